/**
 * prom-client's metric classes, loaded one file each instead of through the
 * package's index. The index also loads what the mesh never uses (default
 * process metrics, which pull in `@opentelemetry/api` for exemplars, the
 * Summary's t-digest, the Pushgateway's HTTP client, the cluster
 * aggregator): about 0.6 MB of memory in a service that only counts
 * requests. The classes are the same files the index exports, so a Registry
 * the application made with `prom-client` is accepted as one of these.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry') as typeof PromClient.Registry;
export const Counter = require('prom-client/lib/counter') as typeof PromClient.Counter;
export const Gauge = require('prom-client/lib/gauge') as typeof PromClient.Gauge;
export const Histogram = require('prom-client/lib/histogram') as typeof PromClient.Histogram;
export type Registry = PromClient.Registry;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
