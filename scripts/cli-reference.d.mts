// Types for scripts/cli-reference.mjs, which test/docs.test.ts imports.
export declare const CLI_MD: string;
export interface ParserFlags { file: string; flags: string[]; usage: string }
export declare function parserFlags(): Promise<ParserFlags[]>;
export declare function undocumented(entries: ParserFlags[]): string[];
export declare function cliReference(): Promise<string>;
