/**
 * Reading Sematic's type serialization (API.md §3.1):
 * `{"type": [category, key, params], "registry": {key: [parent types]}}`.
 */

/** `[category, key, params]`: `["typing", "list", {"args": [{"type": ...}]}]`. */
export type TypeTriple = [string, string, Record<string, unknown>];
/** Each type's bases (as triples), by key. */
export type TypeRegistry = Record<string, TypeTriple[]>;

export function isTypeTriple(v: unknown): v is TypeTriple {
  return Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && typeof v[1] === 'string' && typeof v[2] === 'object' && v[2] !== null;
}

/** The `{"type": triple}` wrapper's triple, or the fallback "object". */
export function unwrap(v: unknown): TypeTriple {
  if (v !== null && typeof v === 'object' && 'type' in v && isTypeTriple((v as { type: unknown }).type))
    return (v as { type: TypeTriple }).type;
  return ['builtin', 'object', {}];
}

/** The type arguments of a `typing` type (`List[int]` → [int]). */
export function typeArgs(t: TypeTriple): TypeTriple[] {
  const args = t[2].args;
  return Array.isArray(args) ? args.map(unwrap) : [];
}

/** Whether `key` has `base` (a key, maybe with import path `module`) among its ancestors in the registry. */
export function inherits(registry: TypeRegistry, key: string, base: string, module?: string): boolean {
  const seen = new Set<string>();
  const walk = (k: string): boolean => {
    if (seen.has(k)) return false;
    seen.add(k);
    for (const p of registry[k] ?? []) {
      if (!isTypeTriple(p)) continue;
      if (p[1] === base && (module === undefined || p[2].import_path === module)) return true;
      if (walk(p[1])) return true;
    }
    return false;
  };
  return walk(key);
}

/** `List[int]`, `Optional[str]`, `Dict[str, Outer]`, `Color`: a type as Python writes it. */
export function typeName(t: TypeTriple): string {
  const [category, key] = t;
  if (category === 'typing') {
    const args = typeArgs(t);
    if (key === 'Union') {
      const rest = args.filter((a) => a[1] !== 'NoneType');
      if (rest.length === 1 && rest.length < args.length) return `Optional[${typeName(rest[0])}]`;
      return `Union[${args.map(typeName).join(', ')}]`;
    }
    const name = key.charAt(0).toUpperCase() + key.slice(1);
    return args.length === 0 ? name : `${name}[${args.map(typeName).join(', ')}]`;
  }
  if (key === 'NoneType') return 'None';
  return key;
}
