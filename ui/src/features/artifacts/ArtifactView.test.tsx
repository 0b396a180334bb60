/**
 * Every view against json_summary shapes captured from our server
 * (fixtures/artifacts.json: examples/first_pipeline.py and
 * fixtures/types_pipeline.py run by the LocalRunner, read back with
 * GET /api/v1/runs/:id/graph?root=1). Union-typed artifacts are written
 * with the value's own type by our runner, so the Union cases use the
 * member shapes captured inside a dataclass field and hand-made wrappers.
 */
import { fireEvent, render, screen, within } from '@testing-library/react';
import type { Artifact } from '../../api/types';
import { ArtifactView } from './ArtifactView';
import fixtures from './fixtures/artifacts.json';
import { typeName, unwrap, type TypeTriple } from './typeSerialization';
import { summaryFits } from './views/UnionView';

type Fixture = { type_serialization: Artifact['type_serialization']; json_summary: unknown };
const F = fixtures as unknown as Record<string, Fixture>;

function show(name: string, f: Fixture = F[name]): HTMLElement {
  const artifact: Artifact = {
    id: `id-${name}`,
    type_serialization: f.type_serialization,
    json_summary: f.json_summary,
    created_at: '2026-11-23T03:14:05.738200+00:00',
    updated_at: '2026-11-23T03:14:05.738200+00:00',
  };
  render(<ArtifactView name={name} artifact={artifact} />);
  const el = document.querySelector<HTMLElement>(`[data-testid=artifact-view][data-name="${name}"]`);
  expect(el).not.toBeNull();
  return el!;
}

function view(el: HTMLElement): string | null {
  return el.querySelector('.artifact-body > [data-view]')?.getAttribute('data-view') ?? null;
}

describe('artifact views', () => {
  it('None', () => {
    const el = show('collect.n');
    expect(view(el)).toBe('none');
    expect(el.textContent).toContain('None');
  });

  it('int, float, str, bool', () => {
    expect(view(show('make_scalars.i'))).toBe('number');
    expect(screen.getAllByText('1').length).toBeGreaterThan(0);
    const f = show('make_scalars.f');
    expect(within(f).getByText('2.5')).toBeTruthy();
    const s = show('make_scalars.s');
    expect(view(s)).toBe('str');
    expect(within(s).getByText('hello')).toBeTruthy();
    const b = show('make_scalars.b');
    expect(view(b)).toBe('bool');
    expect(within(b).getByText('True')).toBeTruthy();
    const fl = show('make_union.flag');
    expect(within(fl).getByText('False')).toBeTruthy();
  });

  it('bytes by their repr', () => {
    const el = show('collect.by');
    expect(view(el)).toBe('bytes');
    expect(el.textContent).toContain("b'\\x00\\x01\\x02");
  });

  it('a long list, truncated, with show more', () => {
    const el = show('make_list.output');
    expect(view(el)).toBe('list');
    expect(el.textContent).toContain('list of 1000 int');
    expect(within(el).getAllByTestId('list-item')).toHaveLength(20);
    fireEvent.click(within(el).getByTestId('show-more'));
    expect(within(el).getAllByTestId('list-item')).toHaveLength(120);
  });

  it('a set', () => {
    const el = show('collect.st');
    expect(view(el)).toBe('set');
    expect(within(el).getAllByTestId('list-item').map((li) => li.textContent)).toEqual(['x', 'y', 'z']);
  });

  it('a tuple, each element by its own type', () => {
    const el = show('collect.t');
    expect(view(el)).toBe('tuple');
    expect(el.textContent).toContain('tuple (int, float, str, bool)');
    expect(el.querySelectorAll('[data-view=number]')).toHaveLength(2);
    expect(el.querySelector('[data-view=bool]')?.textContent).toBe('True');
  });

  it('a dict', () => {
    const el = show('collect.d');
    expect(view(el)).toBe('dict');
    expect(within(el).getAllByTestId('dict-item').map((li) => li.textContent)).toEqual(['one: 1', 'three: 3', 'two: 2']);
  });

  it('a dataclass as a field tree, nested dataclass and Optional field included', () => {
    const el = show('collect.o');
    expect(view(el)).toBe('dataclass');
    const fields = within(el).getAllByTestId('dataclass-field').map((f) => f.getAttribute('data-field'));
    expect(fields).toEqual(['inner', 'a', 'b', 'tag', 'values']);
    const inner = el.querySelector('[data-field=inner]')!;
    expect(inner.querySelector('[data-view=dataclass]')).not.toBeNull();
    expect(inner.textContent).toContain('bee');
    const tag = el.querySelector('[data-field=tag]')!;
    expect(tag.querySelector('[data-view=union]')?.getAttribute('data-member')).toBe('str');
    expect(el.querySelector('[data-field=values] [data-view=list]')).not.toBeNull();
  });

  it('a list of dataclasses (first_pipeline.py), deep levels collapsed', () => {
    const el = show('first_pipeline.pick_best.candidates');
    expect(view(el)).toBe('list');
    expect(el.textContent).toContain('list of 3 Evaluation');
    const deep = el.querySelectorAll<HTMLDetailsElement>('details[data-view=dataclass] details[data-view=dataclass]');
    expect(deep.length).toBeGreaterThan(0);
    expect([...deep].every((d) => !d.open)).toBe(true);
  });

  it('an Enum member', () => {
    const el = show('collect.e');
    expect(view(el)).toBe('enum');
    expect(el.textContent).toContain('Color.GREEN');
  });

  it('a datetime', () => {
    const el = show('collect.dt');
    expect(view(el)).toBe('datetime');
    expect(el.querySelector('time')?.getAttribute('dateTime')).toBe('2024-05-06T07:08:09+00:00');
  });

  it('anything else by its repr', () => {
    const el = show('collect.oq');
    expect(view(el)).toBe('repr');
    expect(el.textContent).toContain('Opaque(<42>)');
  });

  it('Optional and Union pick the member the summary is', () => {
    const opt = (arg: TypeTriple): Fixture['type_serialization'] => ({
      type: ['typing', 'Union', { args: [{ type: arg }, { type: ['builtin', 'NoneType', {}] }] }],
      registry: {},
    });
    const none = show('opt-none', { type_serialization: opt(['builtin', 'int', {}]), json_summary: null });
    expect(none.querySelector('[data-view=union]')?.getAttribute('data-member')).toBe('NoneType');
    const some = show('opt-int', { type_serialization: opt(['builtin', 'int', {}]), json_summary: 7 });
    expect(some.querySelector('[data-view=union]')?.getAttribute('data-member')).toBe('int');
    expect(within(some).getByText('Optional[int]')).toBeTruthy();
    const u: Fixture = {
      type_serialization: {
        type: ['typing', 'Union', { args: [{ type: ['builtin', 'int', {}] }, { type: ['builtin', 'str', {}] }] }],
        registry: {},
      },
      json_summary: F['collect.u'].json_summary,
    };
    const el = show('union', u);
    expect(el.querySelector('[data-view=union]')?.getAttribute('data-member')).toBe('str');
    expect(el.textContent).toContain('three');
    // A list member's summary shape.
    const list = unwrap(F['make_list.output'].type_serialization);
    expect(summaryFits(list, F['make_list.output'].json_summary)).toBe(true);
    expect(summaryFits(['builtin', 'int', {}], F['make_list.output'].json_summary)).toBe(false);
  });
});

describe('typeName', () => {
  it('writes types as Python does', () => {
    expect(typeName(unwrap(F['collect.d'].type_serialization))).toBe('Dict[str, int]');
    expect(typeName(unwrap(F['first_pipeline.pick_best.candidates'].type_serialization))).toBe('List[Evaluation]');
    expect(typeName(unwrap(F['collect.n'].type_serialization))).toBe('None');
  });
});
