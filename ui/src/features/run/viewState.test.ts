import { formatHash, parseHash } from './viewState';

describe('run page hash', () => {
  it('reads and writes #run=&tab=', () => {
    expect(parseHash('#run=abc&tab=logs')).toEqual({ run: 'abc', tab: 'logs' });
    expect(parseHash('')).toEqual({ run: null, tab: 'inputs' });
    expect(parseHash('#tab=bogus')).toEqual({ run: null, tab: 'inputs' });
    expect(formatHash({ run: 'abc', tab: 'notes' })).toBe('#run=abc&tab=notes');
  });
});
