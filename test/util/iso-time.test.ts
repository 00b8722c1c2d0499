// The log's timestamps read as Date.prototype.toISOString writes them.
import fc from 'fast-check';
import t from 'tap';
import { isoTime } from '../../src/util/iso-time.js';

t.test('isoTime writes what toISOString writes, for any time in years 0-9999', (t) => {
  const first = new Date(0);
  first.setUTCFullYear(0, 0, 1);
  const last = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
  fc.assert(
    fc.property(fc.integer({ min: first.getTime(), max: last }), (ms) => isoTime(ms) === new Date(ms).toISOString()),
    { numRuns: 5000 },
  );
  for (const ms of [0, first.getTime(), last, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2026, 11, 31, 0, 0, 0, 1)]) {
    t.equal(isoTime(ms), new Date(ms).toISOString(), new Date(ms).toISOString());
  }
  t.end();
});

t.test('isoTime() is now', (t) => {
  const before = Date.now();
  const at = Date.parse(isoTime());
  t.ok(at >= before && at <= Date.now(), 'between the two readings of the clock');
  t.end();
});
