// prom-client's default metrics one by one (lib/metrics/<name>.js, required by lib/metrics/prometheus.ts
// without the two that keep working between scrapes: eventLoopLag's 10 ms timer and gc's observer).
declare module 'prom-client/lib/metrics/*' {
  import type { Registry } from 'prom-client';
  const register: (registry: Registry, config?: Record<string, unknown>) => void;
  export = register;
}
