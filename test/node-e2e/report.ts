/**
 * The suite's closing note: a scenario → result table, and the kubelet's error lines grouped by
 * where they come from, each with the reason it is expected (any runtime would cause it) or
 * flagged as unexplained.
 */

export interface ScenarioResult {
  scenario: string;
  ok: boolean;
  detail: string;
}

/** A kubelet error line (klog `E` severity), reduced to its time, source location and message. */
export interface ErrorLine {
  /** Milliseconds since the epoch (klog writes local time without the year: this year is assumed). */
  time: number;
  source: string;
  message: string;
  line: string;
}

/** An error the kubelet logs whatever the runtime, and why. */
export interface ExpectedError {
  match: (e: ErrorLine) => boolean;
  reason: string;
}

const KLOG_ERROR = /^E(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})\s+\d+ ([\w.-]+:\d+)\] (.*)$/;

/** The `E` lines of a kubelet log. */
export function kubeletErrors(log: string): ErrorLine[] {
  const out: ErrorLine[] = [];
  const year = new Date().getFullYear();
  for (const line of log.split('\n')) {
    const m = KLOG_ERROR.exec(line);
    if (!m) continue;
    const [month, day, h, min, sec, micro] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    out.push({ time: new Date(year, month - 1, day, h, min, sec, Math.floor(micro / 1000)).getTime(), source: m[7] ?? '', message: m[8] ?? '', line });
  }
  return out;
}

/** Groups error lines by source and first words of the message; each group with its reason, if expected. */
export function triageErrors(lines: ErrorLine[], expected: readonly ExpectedError[]): { key: string; count: number; example: string; reason?: string }[] {
  const groups = new Map<string, { key: string; count: number; example: string; reason?: string }>();
  for (const l of lines) {
    // IDs differ from line to line; the kind of line does not.
    const head = (/^"([^"]*)"/.exec(l.message)?.[1] ?? l.message.replace(/[0-9a-f]{12,}/g, '<id>')).slice(0, 80);
    const key = `${l.source} ${head}`;
    const reason = expected.find((e) => e.match(l))?.reason;
    // Lines of one kind with and without a reason, or with different reasons, are kept apart:
    // the unexplained ones must show, and each reason counts its own lines.
    const k = reason === undefined ? `${key} (unexplained)` : `${key} (${reason})`;
    const g = groups.get(k) ?? { key, count: 0, example: l.line, reason };
    g.count++;
    groups.set(k, g);
  }
  return [...groups.values()];
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The closing note as Markdown. */
export function renderReport(results: ScenarioResult[], errors: ReturnType<typeof triageErrors>): string {
  const lines = ['| scenario | result |', '|---|---|'];
  for (const r of results) lines.push(`| ${cell(r.scenario)} | ${r.ok ? 'pass' : 'FAIL'}: ${cell(r.detail)} |`);
  lines.push('', '| kubelet error line (source, message) | count | why |', '|---|---|---|');
  for (const e of errors) lines.push(`| ${cell(e.key)} | ${e.count} | ${cell(e.reason ?? 'UNEXPLAINED: ' + e.example)} |`);
  if (errors.length === 0) lines.push('| (none) | 0 | |');
  return `${lines.join('\n')}\n`;
}
