/** Whether every key=value of a CRI label selector is present in `labels`. */
export function matchesLabelSelector(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** Whether a full ID matches a filter ID (crictl passes truncated IDs; CRI-O matches prefixes). */
export function matchesIdPrefix(id: string, filter: string | undefined): boolean {
  return !filter || id.startsWith(filter);
}
