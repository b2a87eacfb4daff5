/**
 * Control-plane mode: an xDS client feeds the mesh its model, registers this
 * instance when it serves a port, and makes `xds:///service` gRPC targets work
 * in this process. Loaded only in control-plane mode (it pulls in gRPC).
 */
import { randomUUID } from 'node:crypto';
import type { Mesh } from './mesh.ts';
import type { InitOptions } from './init-options.ts';

export async function startXdsSource(mesh: Mesh, addresses: readonly string[], options: InitOptions): Promise<void> {
  const [{ XdsClient }, { registerGrpcXds }, { parseControlPlaneServers }, { LoadReportClient }, { buildNode }] = await Promise.all([
    import('./xds/client/ads-client.ts'),
    import('./xds/grpc-bootstrap.ts'),
    import('./xds/client/env.ts'),
    import('./telemetry/load-reporter.ts'),
    import('./xds/client/node.ts'),
  ]);
  const servers = parseControlPlaneServers(addresses.join(','), 'controlPlane');
  const svc = options.service;
  const nodeId = `${svc?.name ?? 'client'}~${process.pid}~${randomUUID().slice(0, 8)}`;
  const zone = svc?.zone ?? '';
  const client = new XdsClient({
    servers,
    mode: options.xdsMode ?? 'delta',
    node: { id: nodeId, cluster: svc?.name ?? '', zone },
    ...(svc?.port !== undefined
      ? { registration: { service: svc.name, host: svc.host ?? '127.0.0.1', port: svc.port, labels: { ...(svc.labels ?? {}) }, zone } }
      : {}),
  });
  client.on('model', (model) => mesh.applyModel(model));
  client.on('warning', (err) => mesh.reportError(err));
  mesh.onClose(() => client.close());
  if (options.hooks?.grpc !== false) registerGrpcXds({ servers, nodeId: `${nodeId}~grpc`, zone });
  client.start();

  // Load reports (LRS) to the control plane: per cluster and locality, for its live per-service view.
  const store = mesh.telemetry()?.load;
  if (store !== undefined) {
    mesh.enableLoadReporting();
    const lrs = new LoadReportClient({
      server: servers[0]!,
      node: buildNode({ id: nodeId, cluster: svc?.name ?? '', user_agent_name: 'enmesh', zone }, undefined, false),
      store,
    });
    // Control-plane trouble is already reported by the ADS stream; a lost report is not worth a second warning.
    lrs.on('warning', () => {});
    lrs.start();
    mesh.onClose(() => lrs.close());
  }
}
