import { promises as fs } from 'node:fs';
import path from 'node:path';
import { moveToCgroup } from './cgroupfs';
import { type CgroupManagerName, conmonScopeName, conmonScopeSlice, DEFAULT_MONITOR_SLICE, POD_MONITOR_CGROUP } from './cgroup-systemd';
import type { Spec } from './spec-input';
import { moveToTransientScope } from './systemd-scope';

/**
 * Where conmon goes before it forks runc, so it leaves the daemon's cgroup and outlives a daemon
 * restart: with cgroupfs a configured cgroup directory (or nowhere), with systemd a transient
 * `crio-conmon-<id>.scope` (CRI-O's MoveConmonToCgroup for both drivers).
 */

/** What conmonPlacement needs about the runtime and one container. */
export interface ConmonPlacementOptions {
  cgroupManager: CgroupManagerName;
  /** cgroupfs: the cgroup path; undefined = stay in the daemon's. */
  conmonCgroup?: string;
  /** systemd: "pod" or a slice; default system.slice. */
  monitorCgroup?: string;
  /** systemd: unit the scope is ordered after. */
  serviceUnit?: string;
  containerId: string;
  /** Holds config.json; with monitor cgroup "pod" its linux.cgroupsPath names the slice. */
  bundleDir: string;
  signal: AbortSignal;
}

/** The `beforeStart` hook for spawnConmon, or undefined when conmon stays where it is. */
export async function conmonPlacement(o: ConmonPlacementOptions): Promise<((pid: number) => Promise<void>) | undefined> {
  if (o.cgroupManager === 'cgroupfs') {
    const cgroup = o.conmonCgroup;
    return cgroup === undefined ? undefined : (pid) => moveToCgroup(pid, cgroup);
  }
  const monitorCgroup = o.monitorCgroup ?? DEFAULT_MONITOR_SLICE;
  let cgroupsPath = '';
  if (monitorCgroup === POD_MONITOR_CGROUP) {
    const spec = JSON.parse(await fs.readFile(path.join(o.bundleDir, 'config.json'), 'utf8')) as Spec;
    cgroupsPath = spec.linux?.cgroupsPath ?? '';
  }
  const slice = conmonScopeSlice(monitorCgroup, cgroupsPath);
  const unit = conmonScopeName(o.containerId);
  const after = o.serviceUnit ?? 'crio.service';
  return (pid) => moveToTransientScope({ pid, unit, slice, after, signal: o.signal });
}
