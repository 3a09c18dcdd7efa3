import { startDaemon, type TestDaemon } from '../test/harness/daemon';
import { startRegistry, type TestRegistry } from '../test/harness/registry';
import { buildBusyboxImage } from '../test/harness/test-images';

/** The set-up every daemon bench shares: a local registry with busybox and a quiet daemon that pulls it as `busybox`. */
export async function startBenchDaemon(netIndex: number): Promise<{ registry: TestRegistry; daemon: TestDaemon }> {
  const registry = await startRegistry();
  await registry.push('library/busybox', 'latest', await buildBusyboxImage());
  const daemon = await startDaemon({
    netIndex,
    dropIn: '[crio.runtime]\nlog_level = "warn"\n',
    registriesConf: `[[registry]]\nprefix = "docker.io/library/busybox"\nlocation = "${registry.host}/library/busybox"\ninsecure = true\n`,
  });
  return { registry, daemon };
}
