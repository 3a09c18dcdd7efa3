import { RLIM_INFINITY } from './rlimits';
import type { Spec } from './spec-input';

/** config.json text for a spec; the one place that knows how RLIM_INFINITY is written. */

const INFINITY_TOKEN = '"__crio_ts_rlim_infinity__"';
const RLIM_INFINITY_TEXT = '18446744073709551615';

/** JSON for runc: rlimit values of RLIM_INFINITY become 2^64-1 exactly (JSON.stringify would round it). */
export function serializeSpec(spec: Spec): string {
  const text = JSON.stringify(spec, function (this: unknown, key: string, value: unknown) {
    if ((key === 'soft' || key === 'hard') && value === RLIM_INFINITY) return JSON.parse(INFINITY_TOKEN) as string;
    return value;
  });
  return text.split(INFINITY_TOKEN).join(RLIM_INFINITY_TEXT);
}
