import { nestsDeeperThan } from './json-depth.js';

/** An array nested `depth` levels deep, built without recursion. */
function nestedArrays(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function nestedObjects(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

describe('nestsDeeperThan', () => {
  it.each<[string, unknown, number]>([
    ['a string', 'x', 0],
    ['null', null, 0],
    ['a number', 3, 0],
    ['an empty object', {}, 1],
    ['an empty array', [], 1],
    ['an object holding an array', { a: [] }, 2],
    ['an array holding scalars only', [1, 'two', null, true], 1],
    ['a wide but shallow object', Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, { v: i }])), 2],
  ])('measures %s as %d deep', (_label, value, depth) => {
    expect(nestsDeeperThan(value, depth)).toBe(false);
    if (depth > 0) expect(nestsDeeperThan(value, depth - 1)).toBe(true);
  });

  it('finds the one deep branch among shallow ones', () => {
    const value = { shallow: [1, 2, 3], deep: nestedObjects(10), other: { x: 1 } };
    expect(nestsDeeperThan(value, 11)).toBe(false);
    expect(nestsDeeperThan(value, 10)).toBe(true);
  });

  it.each([64, 1300, 100_000])('measures %d levels of arrays and of objects without exhausting the stack', (depth) => {
    expect(nestsDeeperThan(nestedArrays(depth), depth)).toBe(false);
    expect(nestsDeeperThan(nestedArrays(depth), depth - 1)).toBe(true);
    expect(nestsDeeperThan(nestedObjects(depth), 64)).toBe(depth > 64);
  });

  it('stops on a cycle: it is deeper than any limit', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    expect(nestsDeeperThan(cyclic, 64)).toBe(true);
  });
});
