// Field-by-field checks of parsed JSON that came from outside the process (a distributed
// encoding job or result, a knowledge pack). Each check names the field it refuses; unknown
// fields are refused too, so nothing unexpected is carried along.
export class FieldChecks {
  /** @param refuse builds the error for a field path and what is wrong with it. */
  constructor(private readonly refuse: (path: string, what: string) => Error) {}

  fail(path: string, what: string): never {
    throw this.refuse(path, what);
  }

  /** An object with exactly `keys` (and possibly `optional`). */
  record(path: string, value: unknown, keys: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, 'must be an object');
    const o = value as Record<string, unknown>;
    for (const key of Object.keys(o)) if (!keys.includes(key) && !optional.includes(key)) this.fail(`${path}.${key}`, 'is not a known field');
    for (const key of keys) if (!(key in o)) this.fail(`${path}.${key}`, 'is missing');
    return o;
  }

  text(path: string, value: unknown, maxChars: number, minChars = 0): string {
    if (typeof value !== 'string' || value.length > maxChars || value.length < minChars) this.fail(path, `must be a string of ${minChars} to ${maxChars} characters`);
    return value;
  }

  integer(path: string, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) this.fail(path, `must be an integer from ${min} to ${max}`);
    return value;
  }

  number(path: string, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) this.fail(path, `must be a number from ${min} to ${max}`);
    return value;
  }

  hex(path: string, value: unknown, length: number): string {
    if (typeof value !== 'string' || value.length !== length || !/^[0-9a-f]+$/.test(value)) this.fail(path, `must be ${length} lowercase hex digits`);
    return value;
  }

  oneOf<T extends string>(path: string, value: unknown, allowed: readonly T[]): T {
    if (!allowed.includes(value as T)) this.fail(path, `must be one of ${allowed.join(', ')}`);
    return value as T;
  }

  list<T>(path: string, value: unknown, maxItems: number, item: (path: string, v: unknown) => T): T[] {
    if (!Array.isArray(value) || value.length > maxItems) this.fail(path, `must be a list of at most ${maxItems} items`);
    return value.map((v, i) => item(`${path}[${i}]`, v));
  }
}
