/**
 * `make` memoized per record version: records are immutable (every change makes a new object),
 * so what is derived from one object stays right while it lives, and goes with it (WeakMap).
 * Callers must not change what it returns.
 */
export function perRecordVersion<R extends object, V>(make: (record: R) => V): (record: R) => V {
  const made = new WeakMap<R, V>();
  return (record) => {
    let value = made.get(record);
    if (value === undefined) {
      value = make(record);
      made.set(record, value);
    }
    return value;
  };
}
