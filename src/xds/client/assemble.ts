/**
 * The client's one meeting point with the decoder: resources held → MeshModel,
 * and which RDS/EDS names the held LDS/CDS resources reference.
 */
import type { MeshModel } from '../../model/types.ts';
import { assembleModel, decodeResource as decode, referencedResourceNames } from '../decode/index.ts';
import type { ResourceMaps } from '../decode/index.ts';
import type { DecodeResource } from './messages.ts';
import type { ResourceState, TypeState } from './state.ts';

export const decodeResource: DecodeResource = decode;

function values(s: TypeState): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [name, held] of s.resources) out.set(name, held.value);
  return out;
}

function maps(state: ResourceState): ResourceMaps {
  return {
    listeners: values(state.listeners),
    routeConfigs: values(state.routeConfigs),
    clusters: values(state.clusters),
    assignments: values(state.assignments),
  };
}

export function assemble(state: ResourceState): MeshModel {
  return assembleModel(maps(state));
}

/**
 * Every RDS and EDS name the held listeners and clusters reference (what to
 * subscribe to), and every cluster the listeners and routes reference (what
 * CDS must hold before a model may route to it).
 */
export function referencedNames(state: ResourceState): { routeConfigs: Set<string>; assignments: Set<string>; clusters: Set<string> } {
  const r = referencedResourceNames(maps(state));
  return { routeConfigs: new Set(r.routeConfigs), assignments: new Set(r.assignments), clusters: new Set(r.clusters) };
}
