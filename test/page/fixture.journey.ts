// The fixture page's journey as a module, as `--journey FILE` loads it (a .ts file works under the dev loader).
import { fixtureJourney } from './fixture.ts';

export default fixtureJourney;
