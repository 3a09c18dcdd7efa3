import { quote } from '../quote';

/**
 * CDI names (tags.cncf.io/container-device-interface pkg/parser and annotations.go), pure:
 * a device is requested as `<vendor>/<class>=<name>`, a spec's `kind` is `<vendor>/<class>`, and
 * the kubelet's device plugins may also request devices with `cdi.k8s.io/<key>` annotations
 * whose values are comma-separated qualified names.
 */

/** Prefix of the annotations that request CDI devices. */
export const CDI_ANNOTATION_PREFIX = 'cdi.k8s.io/';

const isLetter = (c: string): boolean => /^[A-Za-z]$/.test(c);
const isAlnum = (c: string): boolean => /^[A-Za-z0-9]$/.test(c);

/** Why `name` is not a valid vendor or class name, or undefined when it is. */
function vendorOrClassProblem(name: string): string | undefined {
  if (name === '') return 'empty name';
  if (!isLetter(name[0])) return `${JSON.stringify(name)} should start with a letter`;
  if (name.length === 1) return undefined;
  const bad = [...name.slice(1, -1)].find((c) => !isAlnum(c) && !'_-.'.includes(c));
  if (bad !== undefined) return `invalid character '${bad}' in name ${JSON.stringify(name)}`;
  if (!isAlnum(name[name.length - 1])) return `${JSON.stringify(name)} should end with a letter or digit`;
  return undefined;
}

/** Why `name` is not a valid vendor, or undefined. */
export function vendorProblem(vendor: string): string | undefined {
  const p = vendorOrClassProblem(vendor);
  return p === undefined ? undefined : `invalid vendor: ${p}`;
}

/** Why `name` is not a valid class, or undefined. */
export function classProblem(cls: string): string | undefined {
  const p = vendorOrClassProblem(cls);
  return p === undefined ? undefined : `invalid class: ${p}`;
}

/** Why `name` is not a valid device name, or undefined (digits may lead since CDI 0.5.0, ':' is allowed). */
export function deviceNameProblem(name: string): string | undefined {
  if (name === '') return 'invalid (empty) device name';
  if (!isAlnum(name[0])) return `invalid device name ${JSON.stringify(name)}: should start with a letter or digit`;
  if (name.length === 1) return undefined;
  const bad = [...name.slice(1, -1)].find((c) => !isAlnum(c) && !'_-.:'.includes(c));
  if (bad !== undefined) return `invalid character '${bad}' in device name ${JSON.stringify(name)}`;
  if (!isAlnum(name[name.length - 1])) return `invalid device name ${JSON.stringify(name)}: should end with a letter or digit`;
  return undefined;
}

/** Splits a kind `<vendor>/<class>` at its first slash; vendor is '' when there is none. */
export function parseKind(kind: string): { vendor: string; cls: string } {
  const i = kind.indexOf('/');
  if (i <= 0 || i === kind.length - 1) return { vendor: '', cls: kind };
  return { vendor: kind.slice(0, i), cls: kind.slice(i + 1) };
}

/** A parsed `<vendor>/<class>=<name>`. */
export interface QualifiedName {
  vendor: string;
  cls: string;
  name: string;
}

/** Parses a qualified device name; a string says what is wrong with it. */
export function parseQualifiedName(device: string): QualifiedName | string {
  const eq = device.indexOf('=');
  const kind = eq < 0 ? device : device.slice(0, eq);
  const name = eq < 0 ? '' : device.slice(eq + 1);
  const { vendor, cls } = device.startsWith('/') ? { vendor: '', cls: '' } : parseKind(kind);
  if (vendor === '') return `unqualified device ${quote(device)}, missing vendor (want <vendor>/<class>=<name>)`;
  if (cls === '') return `unqualified device ${quote(device)}, missing class`;
  if (name === '') return `unqualified device ${quote(device)}, missing device name`;
  const problem = vendorProblem(vendor) ?? classProblem(cls) ?? deviceNameProblem(name);
  return problem === undefined ? { vendor, cls, name } : `invalid device ${quote(device)}: ${problem}`;
}

/** `<vendor>/<class>=<name>`. */
export function qualifiedName(vendor: string, cls: string, name: string): string {
  return `${vendor}/${cls}=${name}`;
}

/**
 * The devices requested by `cdi.k8s.io/*` annotations, in annotation order; a string names the
 * first malformed value (CRI-O then fails the create).
 */
export function cdiAnnotationDevices(annotations: Readonly<Record<string, string>>): string[] | string {
  const out: string[] = [];
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(CDI_ANNOTATION_PREFIX)) continue;
    for (const d of value.split(',')) {
      const parsed = parseQualifiedName(d);
      if (typeof parsed === 'string') return `annotation ${key}: invalid CDI device name ${JSON.stringify(d)}: ${parsed}`;
      out.push(d);
    }
  }
  return out;
}
