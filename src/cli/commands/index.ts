/** The commands of `bsa-tnp`, in the order `--help` lists them (one file per command). */
import type { CommandSpec } from '../args.js';
import { demoCommand } from './demo.js';
import { evalCommand } from './eval.js';
import { infoCommand } from './info.js';
import { predictCommand } from './predict.js';
import { trainCommand } from './train.js';
import { webCommand } from './web.js';

export const COMMANDS: readonly CommandSpec[] = [trainCommand, evalCommand, predictCommand, infoCommand, demoCommand, webCommand];
