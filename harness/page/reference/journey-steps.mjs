// What the reference pages' journeys share: each step fills a form of the page (or reloads it), waits for the
// next view, and waits until that view's UID2 work settled (<html data-uid2="settled">, set by publisher.js).
// A publisher's own journey looks like this, with its own selectors (see the README, "Testing a publisher's page").

const SETTLED_MS = 15_000;

/** @param {import('playwright-core').Page} page */
async function settled(page) {
  await page.waitForFunction(() => document.documentElement.dataset.uid2 === 'settled', undefined, { timeout: SETTLED_MS });
  const error = await page.evaluate(() => document.documentElement.dataset.uid2Error);
  if (error) throw new Error(`the page's UID2 code failed: ${error}`);
}

/**
 * Fills the form's email or phone field with the user and submits it; resolves once the next view settled.
 * @param {import('playwright-core').Page} page
 * @param {'login' | 'optout'} form
 * @param {import('../journey.ts').JourneyUser} [user]
 */
async function submit(page, form, user) {
  if (user) {
    const field = user.email !== undefined ? 'email' : 'phone';
    await page.fill(`#${form}-${field}`, /** @type {string} */ (user.email ?? user.phone));
  }
  await Promise.all([page.waitForEvent('load'), page.click(`#${form === 'optout' ? 'site-optout' : form}-submit`)]);
  await settled(page);
}

/**
 * The journey of a reference page, read through the given observer.
 * @param {import('../journey.ts').AdRequestObserver} observer
 * @returns {import('../journey.ts').Journey}
 */
export function referenceJourney(observer) {
  return {
    observer,
    login: (page, user) => submit(page, 'login', user),
    siteOptOut: (page, user) => submit(page, 'optout', user),
    logout: (page) => submit(page, 'logout'),
    // An ad request is a page view: the page runs its UID2 code and its auction again.
    async adRequest(page) {
      await page.reload();
      await settled(page);
    },
  };
}
