// The reference participants the embedded default runs: one factory per role (filled in as each role lands).
import { ADVERTISER_FAULTS, createAdvertiser } from './advertiser.ts';
import type { RoleFactory } from './driver-server.ts';
import { createDsp, DSP_FAULTS } from './dsp.ts';
import { createPublisher, PUBLISHER_FAULTS } from './publisher.ts';
import type { ParticipantFault, ParticipantRole } from './role.ts';
import { createSharer, SHARER_FAULTS } from './sharer.ts';

export const REFERENCE_ROLES: Partial<Record<ParticipantRole, RoleFactory>> = {
  publisher: createPublisher,
  dsp: createDsp,
  advertiser: createAdvertiser,
  sharer: createSharer,
};

/** Every named fault of the reference participants, the calibration targets of the participant suites. */
export const PARTICIPANT_FAULTS: readonly ParticipantFault[] = [...PUBLISHER_FAULTS, ...DSP_FAULTS, ...ADVERTISER_FAULTS, ...SHARER_FAULTS];
