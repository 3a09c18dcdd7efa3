/**
 * The Kubernetes streaming sub-protocols (k8s.io/apimachinery remotecommand and portforward) and
 * how the server picks one: the first protocol in the client's list that the server speaks.
 */

/** remotecommand over SPDY, newest first (X-Stream-Protocol-Version values). */
export const REMOTECOMMAND_SPDY_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;

/** remotecommand over WebSocket (Sec-WebSocket-Protocol values); base64 variants send text frames. */
export const REMOTECOMMAND_WS_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'] as const;

/** Port forwarding over SPDY. */
export const PORTFORWARD_SPDY_PROTOCOLS = ['portforward.k8s.io'] as const;

/** Port forwarding over WebSocket (the kubelet's channel layout: data 2i, error 2i+1 per port). */
export const PORTFORWARD_WS_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'] as const;

/** The protocols a client offered, from a (possibly repeated, comma-joined) header. */
export function offeredProtocols(header: string | string[] | undefined): string[] {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

/** The first offered protocol the server supports; undefined when none matches. */
export function negotiate(offered: readonly string[], supported: readonly string[]): string | undefined {
  return offered.find((p) => supported.includes(p));
}

/** True for remotecommand protocols whose error stream carries a metav1.Status JSON (v4 and later). */
export function statusIsJson(protocol: string): boolean {
  return /^v[4-9]\./.test(protocol);
}

/** True for remotecommand protocols that have a resize stream (v3 and later; every WebSocket one). */
export function supportsResize(protocol: string, websocket: boolean): boolean {
  return websocket || /^v[3-9]\./.test(protocol);
}

/** True for WebSocket protocols that frame data as base64 text. */
export function isBase64Protocol(protocol: string): boolean {
  return protocol.includes('base64.');
}

/** True for WebSocket protocols with the v5 close signal (channel 255). */
export function hasCloseSignal(protocol: string): boolean {
  return protocol.startsWith('v5.');
}
