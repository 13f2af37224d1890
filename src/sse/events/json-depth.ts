/**
 * Whether a JSON-like value nests objects and arrays deeper than `maxDepth`
 * (a scalar is 0 deep, `{}` and `[]` are 1, `{"a":[]}` is 2). It walks with a
 * stack of its own and stops at the first level past the limit, so neither a
 * hostile document nor a cycle can exhaust the call stack, as recursive
 * copies and `JSON.stringify` do at a few thousand levels.
 */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  const pending: object[] = [];
  const depths: number[] = [];
  if (typeof value === 'object' && value !== null) {
    pending.push(value);
    depths.push(1);
  }
  while (pending.length > 0) {
    const node = pending.pop()!;
    const depth = depths.pop()!;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) {
        pending.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
