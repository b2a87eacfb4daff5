/**
 * The benchmark upstream with enmesh's server side on: the same 1 KB answer
 * as server.ts, in a process started with init() as service `bench`, so
 * every request goes through the inbound path (deadline scope, inbound
 * checks, metrics). argv[2] is the mesh file.
 */
import http from 'node:http';
import { init } from 'enmesh';
import { answer1k, listenAndReport } from './answer.ts';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: hooked-server.ts <mesh.yaml>');
await init({ config: file, service: { name: 'bench' }, watch: false });
listenAndReport(http.createServer(answer1k));
