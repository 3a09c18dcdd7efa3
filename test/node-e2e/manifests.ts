/**
 * The static pods of the node e2e suite (v1.Pod objects; the kubelet reads JSON as YAML). One
 * namespace holds them all, so the host's /var/log/pods entries of the suite are found by it.
 */

export const NAMESPACE = 'crio-e2e';

/** PID 1 of long-running containers: exits on SIGTERM at once (a bare `sleep` as PID 1 ignores it). */
const IDLE = "trap 'exit 0' TERM; while :; do sleep 1; done";

type Obj = Record<string, unknown>;

function pod(name: string, spec: Obj): Obj {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NAMESPACE, labels: { suite: 'crio-e2e', app: name } }, spec: { terminationGracePeriodSeconds: 5, ...spec } };
}

/** Init container, shared emptyDir, env/args, the four probe kinds, runAsUser, read-only rootfs, capabilities. */
export function appPod(image: string): Obj {
  const work = [{ name: 'work', mountPath: '/work' }];
  return pod('app', {
    volumes: [{ name: 'work', emptyDir: {} }],
    initContainers: [
      {
        name: 'init',
        image,
        command: ['sh', '-c', 'echo "init-done $(id -u)" > /work/init.txt && echo "<p>ready</p>" > /work/index.html'],
        volumeMounts: work,
      },
    ],
    containers: [
      {
        name: 'web',
        image,
        command: ['sh', '-c'],
        args: ['echo "greeting=$GREETING args=$0,$1"; exec httpd -f -p 8080 -h /work', 'first', 'second'],
        env: [{ name: 'GREETING', value: 'hello' }],
        volumeMounts: work,
        securityContext: { runAsUser: 1000, runAsGroup: 1000, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        startupProbe: { exec: { command: ['cat', '/work/init.txt'] }, periodSeconds: 1, failureThreshold: 60 },
        readinessProbe: { httpGet: { path: '/index.html', port: 8080 }, periodSeconds: 2 },
        livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 5 },
      },
      {
        name: 'caps',
        image,
        command: ['sh', '-c', `grep CapEff /proc/self/status; ${IDLE}`],
        securityContext: { capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'SYS_TIME'] } },
      },
    ],
  });
}

/** Two pods of one image: one Guaranteed, one Burstable. */
export function twinPod(name: string, image: string, qos: 'Guaranteed' | 'Burstable'): Obj {
  const resources =
    qos === 'Guaranteed'
      ? { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '100m', memory: '64Mi' } }
      : { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '128Mi' } };
  return pod(name, { containers: [{ name: 'main', image, command: ['sh', '-c', IDLE], resources }] });
}

/** Two containers that see each other's processes (and the pause process as PID 1). */
export function sharedPidPod(image: string): Obj {
  return pod('shared-pid', {
    shareProcessNamespace: true,
    containers: [
      { name: 'one', image, command: ['sh', '-c', `${IDLE} # marker-one`] },
      { name: 'two', image, command: ['sh', '-c', `${IDLE} # marker-two`] },
    ],
  });
}

/** A pod on the host's network. */
export function hostNetworkPod(image: string): Obj {
  return pod('hostnet', { hostNetwork: true, containers: [{ name: 'main', image, command: ['sh', '-c', IDLE] }] });
}

/** An HTTP server behind a hostPort on 127.0.0.1. */
export function hostPortPod(image: string, hostPort: number): Obj {
  return pod('hostport', {
    containers: [
      {
        name: 'web',
        image,
        command: ['sh', '-c', 'mkdir -p /tmp/www && echo hostport-ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'],
        ports: [{ containerPort: 8080, hostPort, hostIP: '127.0.0.1', protocol: 'TCP' }],
      },
    ],
  });
}

/** Writes its termination message and fails, forever. */
export function crashLoopPod(image: string): Obj {
  return pod('crashloop', {
    restartPolicy: 'Always',
    containers: [{ name: 'dies', image, command: ['sh', '-c', 'echo -n going-down > /dev/termination-log; exit 3'] }],
  });
}
