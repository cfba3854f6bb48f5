// The journey of the Prebid.js reference pages (prebid-server, prebid-cstg): the kit reads the uidapi.com EIDs
// of the auctions the page runs.
import { referenceJourney } from './journey-steps.mjs';

export default referenceJourney('prebid');
