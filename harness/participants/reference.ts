// The reference participants the embedded default runs: one factory per role (filled in as each role lands).
import { createAdvertiser } from './advertiser.ts';
import type { RoleFactory } from './driver-server.ts';
import type { ParticipantRole } from './role.ts';
import { createSharer } from './sharer.ts';

export const REFERENCE_ROLES: Partial<Record<ParticipantRole, RoleFactory>> = {
  advertiser: createAdvertiser,
  sharer: createSharer,
};
