/** The commands of `bsa-tnp`, in the order `--help` lists them (one file per command). */
import type { CommandSpec } from '../args.js';
import { cvCommand } from './cv.js';
import { demoCommand } from './demo.js';
import { evalCommand } from './eval.js';
import { fitCommand } from './fit.js';
import { gpCommand } from './gp.js';
import { infoCommand } from './info.js';
import { predictCommand } from './predict.js';
import { trainCommand } from './train.js';

export const COMMANDS: readonly CommandSpec[] = [trainCommand, fitCommand, evalCommand, predictCommand, infoCommand, demoCommand, gpCommand, cvCommand];
