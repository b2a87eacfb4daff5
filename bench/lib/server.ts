/**
 * Benchmark upstream: a plain node:http server answering a fixed 1 KB body.
 * Runs in its own process (started by lib/upstream.ts) so its CPU is not
 * counted against the client being measured.
 */
import http from 'node:http';
import { answer1k, listenAndReport } from './answer.ts';

listenAndReport(http.createServer(answer1k));
