/** The production snapshot builder: translate the model for a profile, then check and freeze it. */
import type { MeshModel } from '../model/types.ts';
import { translateModel } from '../xds/translate/index.ts';
import type { ClientProfile } from '../xds/translate/types.ts';
import { createSnapshot } from './snapshot.ts';
import type { Snapshot } from './snapshot.ts';

export function buildSnapshot(model: MeshModel, profile: ClientProfile): Snapshot {
  const translated = translateModel(model, profile);
  return createSnapshot(translated.byType, {
    modelVersion: model.version,
    profile: profile.kind,
    degradations: translated.degradations,
  });
}
