// The journey of the UID2/EUID SDK reference pages (sdk-server, sdk-cstg): the kit reads the SDK's
// getAdvertisingToken().
import { referenceJourney } from './journey-steps.mjs';

export default referenceJourney('uid2-sdk');
