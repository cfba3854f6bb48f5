// Type declarations for github-action.mjs (plain JavaScript, so the strict TypeScript tests can use it).

export declare const DEFAULT_OUT: string;
export declare const SUMMARY_LIMIT: number;

/** The kit's command line and environment for the action's inputs (INPUT_* variables); throws on an input it cannot use. */
export declare function kitInvocation(env: Record<string, string | undefined>): { args: string[]; env: Record<string, string | undefined>; out: string };

/** The job summary's text: audit.md, cut at a line end when it would pass GitHub's limit. */
export declare function summaryOf(audit: string): string;
