/**
 * The end of a test service process: its service server and its control
 * server listen on ENMESH_PORT and CONTROL_PORT, it prints "ready", and on
 * SIGTERM it closes both and the mesh, then exits.
 */
import type http from 'node:http';

export async function serveUntilTerminated(mesh: { close(): Promise<void> }, server: http.Server, control: http.Server): Promise<void> {
  const listen = (s: http.Server, port: number): Promise<void> => new Promise((r) => s.listen(port, '127.0.0.1', r));
  await Promise.all([listen(server, Number(process.env.ENMESH_PORT)), listen(control, Number(process.env.CONTROL_PORT))]);
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    control.closeAllConnections();
    server.close();
    control.close();
    void mesh.close().then(() => process.exit(0));
  });
}
