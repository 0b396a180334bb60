import { SseParser } from './events';

describe('SseParser', () => {
  it('joins messages cut across chunks and keeps their ids', () => {
    const p = new SseParser();
    expect(p.push('retry: 3000\nid: 41\nevent: st')).toEqual([]);
    expect(p.push('art\ndata: {"after":41}\n\n: keepalive\n\nevent: runs\ndata: {"runs":[]}\n')).toEqual([
      { event: 'start', data: '{"after":41}', id: '41' },
    ]);
    expect(p.push('\n')).toEqual([{ event: 'runs', data: '{"runs":[]}', id: null }]);
  });

  it('accepts CRLF line ends and multi-line data', () => {
    const p = new SseParser();
    expect(p.push('data: a\r\ndata: b\r\n\r\n')).toEqual([{ event: 'message', data: 'a\nb', id: null }]);
  });
});
