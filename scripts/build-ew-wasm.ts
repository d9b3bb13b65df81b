/**
 * Builds the CPU backend's SIMD elementwise kernels (src/engine/cpu/wasm/ew-wasm.ts) from the
 * WebAssembly text written below, with wabt's parser (no C toolchain needed). The module imports
 * the heap's shared `env.memory` and keeps no stack or static data, so it sits next to the matmul
 * and BSA modules on the same memory and runs on the thread pool (kernels take tid, start, end).
 *
 *   npx tsx scripts/build-ew-wasm.ts [--check]
 *
 * Kernels (element ranges [start, end), byte pointers):
 * - ew_unary(op, x, o): o = op(x); op 0 relu, 1 neg, 2 abs, 3 square, 4 sqrt, 5 recip, 6 exp.
 * - ew_binary(op, a, sa, b, sb, o): o = a op b, sa/sb 1 = contiguous, 0 = the operand's first element
 *   broadcast; op 0 add, 1 sub, 2 mul, 3 div, 4 gt, 5 ge, 6 lt, 7 le, 8 eq, 9 ne, 10 max, 11 min.
 * - ew_binary3(op, a, sa0, sa1, sa2, b, sb0, sb1, sb2, o, n1, n2) over rows of a broadcast op
 *   collapsed to [n0, n1, n2] (engine/cpu/elementwise.ts `collapse`): strides in elements, inner ones 0 or 1.
 * - bias_rows(o, bias, n, relu) over rows: o[r, :] += bias, then relu when relu ≠ 0.
 * - red_sum16(x, o, r, inner): sums over the middle axis of [outer, r, inner], 16 columns per unit.
 * - dw_forward (dw_forward9 for 9×9 kernels) / dw_kgrad: the depthwise 2-D convolution's forward and kernel gradient
 *   (kernels/conv/cpu.ts is the JS original and the reference), float64x2 arithmetic.
 * Every op but exp gives the float32 result the JS loops give (float64 arithmetic rounded to float32
 * is the correctly rounded float32 result for + − × ÷ √; max/min keep the JS NaN and signed-zero
 * rules); exp is within one float32 ulp of Math.exp's (see $exp4).
 */
import { embedLines, writeOrCheck } from './wasm-embed.js';

const addr = (base: string, i = '$i') => `(i32.add (local.get ${base}) (i32.shl (local.get ${i}) (i32.const 2)))`;

/** A loop over [$s, $e) computing `vexpr` (v128, operands $va, $vb) into $o; scalar tail via lane 0. */
function loop(loadA: (vec: boolean) => string, loadB: ((vec: boolean) => string) | null, vexpr: string): string {
  const body = (vec: boolean) => `
      (local.set $va ${loadA(vec)})${loadB ? `
      (local.set $vb ${loadB(vec)})` : ''}
      ${vec ? `(v128.store ${addr('$o')} ${vexpr})` : `(v128.store32_lane 0 ${addr('$o')} ${vexpr})`}`;
  return `
    (local.set $i (local.get $s))
    (block $vd (loop $vl
      (br_if $vd (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $e)))${body(true)}
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $vl)))
    (block $td (loop $tl
      (br_if $td (i32.ge_s (local.get $i) (local.get $e)))${body(false)}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $tl)))`;
}

const ONE = '(v128.const f32x4 1 1 1 1)';
const ZERO = '(v128.const f32x4 0 0 0 0)';
const A = '(local.get $va)';
const B = '(local.get $vb)';
const mask01 = (m: string) => `(v128.and ${m} ${ONE})`;

const UNARY: string[] = [
  `(f32x4.pmax ${ZERO} ${A})`, // relu: 0 < x ? x : 0 (NaN → 0, as the JS loop)
  `(f32x4.neg ${A})`,
  `(f32x4.abs ${A})`,
  `(f32x4.mul ${A} ${A})`,
  `(f32x4.sqrt ${A})`,
  `(f32x4.div ${ONE} ${A})`,
  `(call $exp4 ${A})`, // exp: float64 inside (see $exp4), rounded to float32.
];

/**
 * exp of four float32 lanes, computed in float64 (two halves): x clamped to [−110, 100] (beyond, the float32 result is 0 or ∞ anyway; NaN stays
 * NaN), x = k·ln2 + r with |r| ≤ ln2/2, k nearest (Cody–Waite, fdlibm's split of ln2), e^r by its Taylor
 * polynomial to r¹² (truncation < 2e-16) in Estrin's scheme, times 2^k from the exponent bits.
 * Relative error a few float64 ulps: the float32 rounding is Math.exp's except when e^x lies within
 * ~1e-15 (relative) of a float32 rounding midpoint.
 */
const EXP4 = (() => {
  // t = x·log2(e) + 1.5·2^52 rounds to an integer k = t − 1.5·2^52 in float64, and t's low
  // mantissa bits hold k (two's complement): (bits(t) + 1023) << 52 is 2^k (the high bits shift out).
  const MAGIC = 6755399441055744;
  const f = (v: number) => `(f64x2.splat (f64.const ${v}))`;
  const fact = [1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880, 3628800, 39916800, 479001600];
  const c = (i: number) => f(1 / fact[i]!);
  const L = (h: string, v: string) => `(local.get $${v}${h})`;
  const S = (h: string, v: string, e: string) => `(local.set $${v}${h} ${e})`;
  let half = 'a';
  const both = (fn: (h: string) => string) => fn(half);
  const vars = ['x', 't', 'k', 'r', 'r2', 'r4', 'r8', 'p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
  const fma = (h: string, a: string, b: string, x: string) => `(f64x2.add ${a} (f64x2.mul ${b} ${x}))`;
  // One half's steps (the halves one after the other: fewer live registers than interleaving them).
  const steps = (h0: string): string => {
    half = h0;
    return `${both((h) => S(h, 'x', `(f64x2.pmin (f64x2.pmax ${f(-110)} ${L(h, 'x')}) ${f(100)})`))}
    ${both((h) => S(h, 't', `(f64x2.add (f64x2.mul ${L(h, 'x')} ${f(Math.LOG2E)}) ${f(MAGIC)})`))}
    ${both((h) => S(h, 'k', `(f64x2.sub ${L(h, 't')} ${f(MAGIC)})`))}
    ${both((h) => S(h, 'r', `(f64x2.sub (f64x2.sub ${L(h, 'x')} (f64x2.mul ${L(h, 'k')} ${f(6.93147180369123816490e-01)})) (f64x2.mul ${L(h, 'k')} ${f(1.90821492927058770002e-10)}))`))}
    ${both((h) => S(h, 'r2', `(f64x2.mul ${L(h, 'r')} ${L(h, 'r')})`))}
    ${[0, 1, 2, 3, 4, 5].map((j) => both((h) => S(h, `p${j}`, fma(h, c(2 * j), c(2 * j + 1), L(h, 'r'))))).join('\n    ')}
    ${both((h) => S(h, 'r4', `(f64x2.mul ${L(h, 'r2')} ${L(h, 'r2')})`))}
    ${both((h) => S(h, 'p0', fma(h, L(h, 'p0'), L(h, 'p1'), L(h, 'r2'))))}
    ${both((h) => S(h, 'p2', fma(h, L(h, 'p2'), L(h, 'p3'), L(h, 'r2'))))}
    ${both((h) => S(h, 'p4', fma(h, L(h, 'p4'), L(h, 'p5'), L(h, 'r2'))))}
    ${both((h) => S(h, 'r8', `(f64x2.mul ${L(h, 'r4')} ${L(h, 'r4')})`))}
    ${both((h) => S(h, 'p0', fma(h, L(h, 'p0'), L(h, 'p2'), L(h, 'r4'))))}
    ${both((h) => S(h, 'p4', fma(h, L(h, 'p4'), c(12), L(h, 'r4'))))}
    ${both((h) => S(h, 'p0', fma(h, L(h, 'p0'), L(h, 'p4'), L(h, 'r8'))))}
    ${both((h) => S(h, 'p0', `(f64x2.mul ${L(h, 'p0')} (i64x2.shl (i64x2.add ${L(h, 't')} (i64x2.splat (i64.const 1023))) (i32.const 52)))`))}`;
  };
  return `
  (func $exp4 (param $v v128) (result v128)
    (local $va v128)
    ${vars.map((v) => `(local $${v}a v128) (local $${v}b v128)`).join(' ')}
    ${S('a', 'x', '(f64x2.promote_low_f32x4 (local.get $v))')}
    ${S('b', 'x', '(f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))')}
    ${steps('a')}
    ${steps('b')}
    (local.set $va (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero ${L('a', 'p0')}) (f32x4.demote_f64x2_zero ${L('b', 'p0')})))
    ;; NaN in, NaN out (the clamp's pmin/pmax dropped it).
    (v128.bitselect (f32x4.add (local.get $v) (local.get $v)) (local.get $va) (f32x4.ne (local.get $v) (local.get $v)))
  )`;
})();

const BINARY: string[] = [
  `(f32x4.add ${A} ${B})`,
  `(f32x4.sub ${A} ${B})`,
  `(f32x4.mul ${A} ${B})`,
  `(f32x4.div ${A} ${B})`,
  mask01(`(f32x4.gt ${A} ${B})`),
  mask01(`(f32x4.ge ${A} ${B})`),
  mask01(`(f32x4.lt ${A} ${B})`),
  mask01(`(f32x4.le ${A} ${B})`),
  mask01(`(f32x4.eq ${A} ${B})`),
  mask01(`(f32x4.ne ${A} ${B})`),
  // max: a >= b or a is NaN ? a : b; min: a <= b or a is NaN ? a : b.
  `(v128.bitselect ${A} ${B} (v128.or (f32x4.ge ${A} ${B}) (f32x4.ne ${A} ${A})))`,
  `(v128.bitselect ${A} ${B} (v128.or (f32x4.le ${A} ${B}) (f32x4.ne ${A} ${A})))`,
];

function dispatch(name: string, params: string, count: number, call: (k: number) => string): string {
  const blocks = Array.from({ length: count }, (_, k) => `$c${k}`);
  let inner = `(br_table ${blocks.join(' ')} $out (local.get $op))`;
  for (let k = 0; k < count; k++) inner = `(block $c${k} ${inner})\n      ${call(k)} (br $out)`;
  return `
  (func ${name.startsWith('$') ? name : `(export "${name}")`} ${params}
    (block $out
      ${inner})
  )`;
}

/** i32 helpers for the conv kernels' text. */
const g = (v: string) => `(local.get $${v})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
const mul = (a: string, b: string) => `(i32.mul ${a} ${b})`;
const sub = (a: string, b: string) => `(i32.sub ${a} ${b})`;
const set = (v: string, e: string) => `(local.set $${v} ${e})`;
const c32 = (n: number) => `(i32.const ${n})`;
/** Two float32 at byte address `a` as float64x2. */
const ld2 = (a: string) => `(f64x2.promote_low_f32x4 (v128.load64_zero ${a}))`;
const forLoop = (v: string, from: string, to: string, step: string, body: string) => `
    ${set(v, from)}
    (block $${v}_d (loop $${v}_l
      (br_if $${v}_d (i32.ge_s ${g(v)} ${to}))${body}
      ${set(v, add(g(v), step))}
      (br $${v}_l)))`;

/**
 * dw_forward(x, K, y, H, W, C, k, tid, s, e): rows [s, e) of b·H + h: y[b,h,:,:] += Σ_taps K·x
 * (y holds the bias; K already flipped when wanted). Channel pairs in float64x2: per pixel and
 * kernel row the taps are summed in float64 (the first product, then + each next; from 0 when some
 * taps fall outside), then added to y and rounded, the JS kernel's arithmetic. C must be even.
 */
const DW_FORWARD = `
  (func (export "dw_forward") (param $x i32) (param $K i32) (param $y i32) (param $H i32) (param $W i32) (param $C i32) (param $k i32)
    (param $tid i32) (param $s i32) (param $e i32)
    (local $row i32) (local $h i32) (local $b i32) (local $r i32) (local $dy i32) (local $hs i32) (local $q i32) (local $dx0 i32) (local $dx1 i32)
    (local $c i32) (local $dx i32) (local $out i32) (local $inRow i32) (local $tapRow i32) (local $dst i32) (local $src i32)
    (local $rowB i32) (local $C4 i32) (local $kp i32) (local $xp i32) (local $acc v128)
    ${set('r', `(i32.shr_s ${sub(g('k'), c32(1))} ${c32(1)})`)}
    ${set('rowB', `(i32.shl ${mul(g('W'), g('C'))} ${c32(2)})`)}
    ${set('C4', `(i32.shl ${g('C')} ${c32(2)})`)}
    ${forLoop('row', g('s'), g('e'), c32(1), `
      ${set('b', `(i32.div_s ${g('row')} ${g('H')})`)}
      ${set('h', sub(g('row'), mul(g('b'), g('H'))))}
      ${set('out', add(g('y'), mul(g('row'), g('rowB'))))}
      ${forLoop('dy', c32(0), g('k'), c32(1), `
        ${set('hs', sub(add(g('h'), g('dy')), g('r')))}
        (if (i32.and (i32.ge_s ${g('hs')} ${c32(0)}) (i32.lt_s ${g('hs')} ${g('H')})) (then
        ${set('inRow', add(g('x'), mul(add(mul(g('b'), g('H')), g('hs')), g('rowB'))))}
        ${set('tapRow', add(g('K'), mul(mul(g('dy'), g('k')), g('C4'))))}
        ${forLoop('q', c32(0), g('W'), c32(1), `
          ${set('dx0', `(select ${sub(g('r'), g('q'))} ${c32(0)} (i32.lt_s ${g('q')} ${g('r')}))`)}
          ${set('dx1', `(select ${sub(add(g('W'), g('r')), g('q'))} ${g('k')} (i32.ge_s ${add(g('q'), g('r'))} ${g('W')}))`)}
          ${set('dst', add(g('out'), mul(g('q'), g('C4'))))}
          ${set('src', add(g('inRow'), mul(sub(g('q'), g('r')), g('C4'))))}
          ${forLoop('c', c32(0), g('C'), c32(2), `
            ${set('kp', add(add(g('tapRow'), mul(g('dx0'), g('C4'))), `(i32.shl ${g('c')} ${c32(2)})`))}
            ${set('xp', add(add(g('src'), mul(g('dx0'), g('C4'))), `(i32.shl ${g('c')} ${c32(2)})`))}
            ${set('dx', g('dx0'))}
            (if (i32.eq ${sub(g('dx1'), g('dx0'))} ${c32(9)})
              (then
                ${set('acc', `(f64x2.mul ${ld2(g('kp'))} ${ld2(g('xp'))})`)}
                ${set('kp', add(g('kp'), g('C4')))} ${set('xp', add(g('xp'), g('C4')))} ${set('dx', add(g('dx'), c32(1)))})
              (else ${set('acc', '(v128.const f64x2 0 0)')}))
            (block $t_d (loop $t_l
              (br_if $t_d (i32.ge_s ${g('dx')} ${g('dx1')}))
              ${set('acc', `(f64x2.add ${g('acc')} (f64x2.mul ${ld2(g('kp'))} ${ld2(g('xp'))}))`)}
              ${set('kp', add(g('kp'), g('C4')))} ${set('xp', add(g('xp'), g('C4')))} ${set('dx', add(g('dx'), c32(1)))}
              (br $t_l)))
            (v128.store64_lane 0 ${add(g('dst'), `(i32.shl ${g('c')} ${c32(2)})`)}
              (f32x4.demote_f64x2_zero (f64x2.add ${ld2(add(g('dst'), `(i32.shl ${g('c')} ${c32(2)})`))} ${g('acc')})))`)}`)}))`)}`)}
  )`;

/**
 * dw_forward9: dw_forward for k = 9 and C a multiple of 16. Interior pixels take sixteen channels
 * at a time in float32x4 (four independent sums in flight, the nine taps unrolled): the first
 * product, then + each next, then + y, each rounded to float32 (the JS kernel sums in float64 and
 * rounds once: results differ by a few float32 ulps). Border pixels loop over their valid taps in
 * float64x2 as dw_forward does.
 */
const DW_FORWARD9 = (() => {
  const taps = Array.from({ length: 9 }, (_, i) => i);
  const lanes = [0, 1, 2, 3];
  const ld4 = (a: string) => `(v128.load ${a})`;
  const prod = (t: number, j: number) =>
    `(f32x4.mul ${ld4(`(i32.add ${g('kt' + t)} ${c32(j * 16)})`)} ${ld4(`(i32.add ${g('xs' + t)} ${c32(j * 16)})`)})`;
  const interior = taps.map((t) => lanes.map((j) => (t === 0
    ? set(`a${j}`, prod(0, j))
    : set(`a${j}`, `(f32x4.add ${g(`a${j}`)} ${prod(t, j)})`))).join('\n                ')).join('\n                ');
  const store = lanes.map((j) => `(v128.store (i32.add ${g('dst')} ${c32(j * 16)})
                  (f32x4.add ${ld4(`(i32.add ${g('dst')} ${c32(j * 16)})`)} ${g(`a${j}`)}))`).join('\n                ');
  return `
  (func (export "dw_forward9") (param $x i32) (param $K i32) (param $y i32) (param $H i32) (param $W i32) (param $C i32)
    (param $tid i32) (param $s i32) (param $e i32)
    (local $row i32) (local $h i32) (local $b i32) (local $dy i32) (local $hs i32) (local $q i32) (local $dx0 i32) (local $dx1 i32)
    (local $cp i32) (local $dx i32) (local $out i32) (local $inRow i32) (local $tapRow i32) (local $dst i32) (local $src i32)
    (local $rowB i32) (local $C4 i32) (local $co i32) (local $acc v128)
    ${lanes.map((j) => `(local $a${j} v128)`).join(' ')} ${taps.map((t) => `(local $kt${t} i32) (local $xs${t} i32)`).join(' ')}
    ${set('rowB', `(i32.shl ${mul(g('W'), g('C'))} ${c32(2)})`)}
    ${set('C4', `(i32.shl ${g('C')} ${c32(2)})`)}
    ${forLoop('row', g('s'), g('e'), c32(1), `
      ${set('b', `(i32.div_s ${g('row')} ${g('H')})`)}
      ${set('h', sub(g('row'), mul(g('b'), g('H'))))}
      ${set('out', add(g('y'), mul(g('row'), g('rowB'))))}
      ${forLoop('dy', c32(0), c32(9), c32(1), `
        ${set('hs', sub(add(g('h'), g('dy')), c32(4)))}
        (if (i32.and (i32.ge_s ${g('hs')} ${c32(0)}) (i32.lt_s ${g('hs')} ${g('H')})) (then
        ${set('inRow', add(g('x'), mul(add(mul(g('b'), g('H')), g('hs')), g('rowB'))))}
        ${set('tapRow', add(g('K'), mul(mul(g('dy'), c32(9)), g('C4'))))}
        ${forLoop('q', c32(0), g('W'), c32(1), `
          ${set('dst', add(g('out'), mul(g('q'), g('C4'))))}
          ${set('src', add(g('inRow'), mul(sub(g('q'), c32(4)), g('C4'))))}
          (if (i32.and (i32.ge_s ${g('q')} ${c32(4)}) (i32.lt_s ${add(g('q'), c32(4))} ${g('W')}))
            (then
              ${taps.map((t) => `${set(`kt${t}`, add(g('tapRow'), mul(c32(t), g('C4'))))} ${set(`xs${t}`, add(g('src'), mul(c32(t), g('C4'))))}`).join('\n              ')}
              ${forLoop('cp', c32(0), `(i32.shr_s ${g('C')} ${c32(1)})`, c32(8), `
                ${interior}
                ${store}
                ${taps.map((t) => `${set(`kt${t}`, add(g(`kt${t}`), c32(64)))} ${set(`xs${t}`, add(g(`xs${t}`), c32(64)))}`).join('\n                ')}
                ${set('dst', add(g('dst'), c32(64)))}`)})
            (else
              ${set('dx0', `(select ${sub(c32(4), g('q'))} ${c32(0)} (i32.lt_s ${g('q')} ${c32(4)}))`)}
              ${set('dx1', `(select ${sub(add(g('W'), c32(4)), g('q'))} ${c32(9)} (i32.ge_s ${add(g('q'), c32(4))} ${g('W')}))`)}
              ${forLoop('cp', c32(0), `(i32.shr_s ${g('C')} ${c32(1)})`, c32(1), `
                ${set('co', `(i32.shl ${g('cp')} ${c32(3)})`)}
                ${set('acc', '(v128.const f64x2 0 0)')}
                ${forLoop('dx', g('dx0'), g('dx1'), c32(1), `
                  ${set('acc', `(f64x2.add ${g('acc')} (f64x2.mul ${ld2(add(add(g('tapRow'), mul(g('dx'), g('C4'))), g('co')))} ${ld2(add(add(g('src'), mul(g('dx'), g('C4'))), g('co')))}))`)}`)}
                (v128.store64_lane 0 ${add(g('dst'), g('co'))} (f32x4.demote_f64x2_zero (f64x2.add ${ld2(add(g('dst'), g('co')))} ${g('acc')})))`)}))`)}))`)}`)}
  )`;
})();

/**
 * dw_kgrad(x, g, acc, B, H, W, C, k, tid, s, e): channel pairs [s, e): acc[tap, c] (float64) +=
 * Σ_q g·x per (b, h, dy, dx) row pair, in the JS kernel's order (so the sums are the same).
 */
const DW_KGRAD = `
  (func (export "dw_kgrad") (param $x i32) (param $g i32) (param $acc i32) (param $B i32) (param $H i32) (param $W i32) (param $C i32) (param $k i32)
    (param $tid i32) (param $s i32) (param $e i32)
    (local $b i32) (local $h i32) (local $r i32) (local $dy i32) (local $hs i32) (local $dx i32) (local $q0 i32) (local $q1 i32) (local $q i32)
    (local $cp i32) (local $go i32) (local $inRow i32) (local $tap i32) (local $gi i32) (local $xi i32) (local $ap i32)
    (local $rowB i32) (local $C4 i32) (local $sum v128)
    ${set('r', `(i32.shr_s ${sub(g('k'), c32(1))} ${c32(1)})`)}
    ${set('rowB', `(i32.shl ${mul(g('W'), g('C'))} ${c32(2)})`)}
    ${set('C4', `(i32.shl ${g('C')} ${c32(2)})`)}
    ${forLoop('b', c32(0), g('B'), c32(1), forLoop('h', c32(0), g('H'), c32(1), `
      ${set('go', add(g('g'), mul(add(mul(g('b'), g('H')), g('h')), g('rowB'))))}
      ${forLoop('dy', c32(0), g('k'), c32(1), `
        ${set('hs', sub(add(g('h'), g('dy')), g('r')))}
        (if (i32.and (i32.ge_s ${g('hs')} ${c32(0)}) (i32.lt_s ${g('hs')} ${g('H')})) (then
        ${set('inRow', add(g('x'), mul(add(mul(g('b'), g('H')), g('hs')), g('rowB'))))}
        ${forLoop('dx', c32(0), g('k'), c32(1), `
          ${set('tap', mul(add(mul(g('dy'), g('k')), g('dx')), g('C')))}
          ${set('q0', `(select ${sub(g('r'), g('dx'))} ${c32(0)} (i32.gt_s ${sub(g('r'), g('dx'))} ${c32(0)}))`)}
          ${set('q1', `(select ${sub(add(g('W'), g('r')), g('dx'))} ${g('W')} (i32.lt_s ${sub(add(g('W'), g('r')), g('dx'))} ${g('W')}))`)}
          ${forLoop('cp', g('s'), g('e'), c32(1), `
            ${set('sum', '(v128.const f64x2 0 0)')}
            ${set('gi', add(add(g('go'), mul(g('q0'), g('C4'))), `(i32.shl ${g('cp')} ${c32(3)})`))}
            ${set('xi', add(add(g('inRow'), mul(sub(add(g('q0'), g('dx')), g('r')), g('C4'))), `(i32.shl ${g('cp')} ${c32(3)})`))}
            ${forLoop('q', g('q0'), g('q1'), c32(1), `
              ${set('sum', `(f64x2.add ${g('sum')} (f64x2.mul ${ld2(g('gi'))} ${ld2(g('xi'))}))`)}
              ${set('gi', add(g('gi'), g('C4')))} ${set('xi', add(g('xi'), g('C4')))}`)}
            ${set('ap', add(g('acc'), `(i32.shl ${add(g('tap'), `(i32.shl ${g('cp')} ${c32(1)})`)} ${c32(3)})`))}
            (v128.store ${g('ap')} (f64x2.add (v128.load ${g('ap')}) ${g('sum')}))`)}`)}))`)}`))}
  )`;

/**
 * red_sum16(x, o, r, inner, tid, s, e): x [outer, r, inner] summed over r, for units [s, e) of
 * 16 columns (unit u = i·(inner/16) + block), each column in float64 from 0 in row order, then
 * rounded: the JS reduce's arithmetic, so the same bits.
 */
const RED_SUM16 = (() => {
  const acc = [0, 1, 2, 3, 4, 5, 6, 7];
  return `
  (func (export "red_sum16") (param $x i32) (param $o i32) (param $r i32) (param $inner i32) (param $tid i32) (param $s i32) (param $e i32)
    (local $u i32) (local $nb i32) (local $i i32) (local $kb i32) (local $p i32) (local $j i32) (local $rowB i32) (local $v v128)
    ${acc.map((a) => `(local $a${a} v128)`).join(' ')}
    ${set('nb', `(i32.shr_s ${g('inner')} ${c32(4)})`)}
    ${set('rowB', `(i32.shl ${g('inner')} ${c32(2)})`)}
    ${forLoop('u', g('s'), g('e'), c32(1), `
      ${set('i', `(i32.div_s ${g('u')} ${g('nb')})`)}
      ${set('kb', sub(g('u'), mul(g('i'), g('nb'))))}
      ${set('p', add(add(g('x'), mul(mul(g('i'), g('r')), g('rowB'))), `(i32.shl ${g('kb')} ${c32(6)})`))}
      ${acc.map((a) => set(`a${a}`, '(v128.const f64x2 0 0)')).join(' ')}
      ${forLoop('j', c32(0), g('r'), c32(1), `
        ${[0, 1, 2, 3].map((q) => `${set('v', `(v128.load ${add(g('p'), c32(16 * q))})`)}
        ${set(`a${2 * q}`, `(f64x2.add ${g(`a${2 * q}`)} (f64x2.promote_low_f32x4 ${g('v')}))`)}
        ${set(`a${2 * q + 1}`, `(f64x2.add ${g(`a${2 * q + 1}`)} (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${g('v')} ${g('v')})))`)}`).join('\n        ')}
        ${set('p', add(g('p'), g('rowB')))}`)}
      ${set('p', add(add(g('o'), `(i32.shl ${mul(g('i'), g('inner'))} ${c32(2)})`), `(i32.shl ${g('kb')} ${c32(6)})`))}
      ${[0, 1, 2, 3].map((q) => `(v128.store ${add(g('p'), c32(16 * q))} (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero ${g(`a${2 * q}`)}) (f32x4.demote_f64x2_zero ${g(`a${2 * q + 1}`)})))`).join('\n      ')}`)}
  )`;
})();

/**
 * dw_kgrad8: dw_kgrad for C a multiple of 8, over units [s, e) of eight channels, whose four
 * float64x2 sums run side by side (one chain each, as dw_kgrad's: the same order, the same bits).
 */
const DW_KGRAD8 = (() => {
  const lanes = [0, 1, 2, 3];
  const lo = (v: string) => `(f64x2.promote_low_f32x4 ${v})`;
  const hi = (v: string) => `(f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${v} ${v}))`;
  const half = (j: number, v: string) => (j % 2 === 0 ? lo(v) : hi(v));
  return `
  (func (export "dw_kgrad8") (param $x i32) (param $g i32) (param $acc i32) (param $B i32) (param $H i32) (param $W i32) (param $C i32)
    (param $tid i32) (param $s i32) (param $e i32)
    (local $b i32) (local $h i32) (local $dy i32) (local $hs i32) (local $dx i32) (local $q0 i32) (local $q1 i32) (local $q i32)
    (local $u i32) (local $go i32) (local $inRow i32) (local $tap i32) (local $gi i32) (local $xi i32) (local $ap i32)
    (local $rowB i32) (local $C4 i32) (local $g0 v128) (local $g1 v128) (local $x0 v128) (local $x1 v128)
    ${lanes.map((j) => `(local $s${j} v128)`).join(' ')}
    ${set('rowB', `(i32.shl ${mul(g('W'), g('C'))} ${c32(2)})`)}
    ${set('C4', `(i32.shl ${g('C')} ${c32(2)})`)}
    ${forLoop('b', c32(0), g('B'), c32(1), forLoop('h', c32(0), g('H'), c32(1), `
      ${set('go', add(g('g'), mul(add(mul(g('b'), g('H')), g('h')), g('rowB'))))}
      ${forLoop('dy', c32(0), c32(9), c32(1), `
        ${set('hs', sub(add(g('h'), g('dy')), c32(4)))}
        (if (i32.and (i32.ge_s ${g('hs')} ${c32(0)}) (i32.lt_s ${g('hs')} ${g('H')})) (then
        ${set('inRow', add(g('x'), mul(add(mul(g('b'), g('H')), g('hs')), g('rowB'))))}
        ${forLoop('dx', c32(0), c32(9), c32(1), `
          ${set('tap', mul(add(mul(g('dy'), c32(9)), g('dx')), g('C')))}
          ${set('q0', `(select ${sub(c32(4), g('dx'))} ${c32(0)} (i32.gt_s ${sub(c32(4), g('dx'))} ${c32(0)}))`)}
          ${set('q1', `(select ${sub(add(g('W'), c32(4)), g('dx'))} ${g('W')} (i32.lt_s ${sub(add(g('W'), c32(4)), g('dx'))} ${g('W')}))`)}
          ${forLoop('u', g('s'), g('e'), c32(1), `
            ${lanes.map((j) => set(`s${j}`, '(v128.const f64x2 0 0)')).join(' ')}
            ${set('gi', add(add(g('go'), mul(g('q0'), g('C4'))), `(i32.shl ${g('u')} ${c32(5)})`))}
            ${set('xi', add(add(g('inRow'), mul(sub(add(g('q0'), g('dx')), c32(4)), g('C4'))), `(i32.shl ${g('u')} ${c32(5)})`))}
            ${forLoop('q', g('q0'), g('q1'), c32(1), `
              ${set('g0', `(v128.load ${g('gi')})`)} ${set('g1', `(v128.load offset=16 ${g('gi')})`)}
              ${set('x0', `(v128.load ${g('xi')})`)} ${set('x1', `(v128.load offset=16 ${g('xi')})`)}
              ${lanes.map((j) => set(`s${j}`, `(f64x2.add ${g(`s${j}`)} (f64x2.mul ${half(j, g(j < 2 ? 'g0' : 'g1'))} ${half(j, g(j < 2 ? 'x0' : 'x1'))}))`)).join('\n              ')}
              ${set('gi', add(g('gi'), g('C4')))} ${set('xi', add(g('xi'), g('C4')))}`)}
            ${set('ap', add(g('acc'), `(i32.shl ${add(g('tap'), `(i32.shl ${g('u')} ${c32(3)})`)} ${c32(3)})`))}
            ${lanes.map((j) => `(v128.store offset=${16 * j} ${g('ap')} (f64x2.add (v128.load offset=${16 * j} ${g('ap')}) ${g(`s${j}`)}))`).join('\n            ')}`)}`)}))`)}`))}
  )`;
})();

function build(): string {
  const ld = (p: string) => (vec: boolean) => (vec ? `(v128.load ${addr(p)})` : `(v128.load32_splat ${addr(p)})`);
  const ldStrided = (p: string, st: string) => (vec: boolean) =>
    `(if (result v128) (local.get ${st}) (then ${ld(p)(vec)}) (else (v128.load32_splat (local.get ${p}))))`;
  const fns: string[] = [];
  UNARY.forEach((ex, k) => fns.push(`
  (func $u${k} (param $x i32) (param $o i32) (param $s i32) (param $e i32)
    (local $i i32) (local $va v128)${loop(ld('$x'), null, ex)})`));
  BINARY.forEach((ex, k) => fns.push(`
  (func $b${k} (param $a i32) (param $sa i32) (param $b i32) (param $sb i32) (param $o i32) (param $s i32) (param $e i32)
    (local $i i32) (local $va v128) (local $vb v128)${loop(ldStrided('$a', '$sa'), ldStrided('$b', '$sb'), ex)})`));
  fns.push(dispatch('ew_unary', '(param $op i32) (param $x i32) (param $o i32) (param $tid i32) (param $s i32) (param $e i32)', UNARY.length,
    (k) => `(call $u${k} (local.get $x) (local.get $o) (local.get $s) (local.get $e))`));
  fns.push(dispatch('ew_binary',
    '(param $op i32) (param $a i32) (param $sa i32) (param $b i32) (param $sb i32) (param $o i32) (param $tid i32) (param $s i32) (param $e i32)',
    BINARY.length,
    (k) => `(call $b${k} (local.get $a) (local.get $sa) (local.get $b) (local.get $sb) (local.get $o) (local.get $s) (local.get $e))`));
  // ew_binary3: rows [s, e) of a collapsed output [n0, n1, n2]; row r = (i0, i1); operands at
  // i0·s?0 + i1·s?1 (element strides) with inner strides sa2, sb2 ∈ {0, 1}.
  fns.push(`
  (func (export "ew_binary3") (param $op i32) (param $a i32) (param $sa0 i32) (param $sa1 i32) (param $sa2 i32)
    (param $b i32) (param $sb0 i32) (param $sb1 i32) (param $sb2 i32) (param $o i32) (param $n1 i32) (param $n2 i32)
    (param $tid i32) (param $s i32) (param $e i32)
    (local $r i32) (local $i0 i32) (local $i1 i32) (local $ar i32) (local $br i32) (local $or i32)
    (local.set $r (local.get $s))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_s (local.get $r) (local.get $e)))
      (local.set $i0 (i32.div_s (local.get $r) (local.get $n1)))
      (local.set $i1 (i32.sub (local.get $r) (i32.mul (local.get $i0) (local.get $n1))))
      (local.set $ar (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $i0) (local.get $sa0)) (i32.mul (local.get $i1) (local.get $sa1))) (i32.const 2))))
      (local.set $br (i32.add (local.get $b) (i32.shl (i32.add (i32.mul (local.get $i0) (local.get $sb0)) (i32.mul (local.get $i1) (local.get $sb1))) (i32.const 2))))
      (local.set $or (i32.add (local.get $o) (i32.shl (i32.mul (local.get $r) (local.get $n2)) (i32.const 2))))
      (call $binrow (local.get $op) (local.get $ar) (local.get $sa2) (local.get $br) (local.get $sb2) (local.get $or) (local.get $n2))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl)))
  )`);
  fns.push(dispatch('$binrow', '(param $op i32) (param $a i32) (param $sa i32) (param $b i32) (param $sb i32) (param $o i32) (param $n i32)',
    BINARY.length,
    (k) => `(call $b${k} (local.get $a) (local.get $sa) (local.get $b) (local.get $sb) (local.get $o) (i32.const 0) (local.get $n))`));
  // bias_rows: rows [s, e) of o [rows, n] get + bias (and relu).
  fns.push(`
  (func (export "bias_rows") (param $o i32) (param $bias i32) (param $n i32) (param $relu i32) (param $tid i32) (param $s i32) (param $e i32)
    (local $r i32) (local $row i32) (local $c i32) (local $v v128)
    (local.set $r (local.get $s))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_s (local.get $r) (local.get $e)))
      (local.set $row (i32.add (local.get $o) (i32.shl (i32.mul (local.get $r) (local.get $n)) (i32.const 2))))
      (local.set $c (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.gt_s (i32.add (local.get $c) (i32.const 4)) (local.get $n)))
        (local.set $v (f32x4.add (v128.load ${addr('$row', '$c')}) (v128.load ${addr('$bias', '$c')})))
        (if (local.get $relu) (then (local.set $v (f32x4.pmax ${ZERO} (local.get $v)))))
        (v128.store ${addr('$row', '$c')} (local.get $v))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $vl)))
      (block $td (loop $tl
        (br_if $td (i32.ge_s (local.get $c) (local.get $n)))
        (local.set $v (f32x4.add (v128.load32_splat ${addr('$row', '$c')}) (v128.load32_splat ${addr('$bias', '$c')})))
        (if (local.get $relu) (then (local.set $v (f32x4.pmax ${ZERO} (local.get $v)))))
        (v128.store32_lane 0 ${addr('$row', '$c')} (local.get $v))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $tl)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl)))
  )`);
  fns.push(DW_FORWARD, DW_FORWARD9, DW_KGRAD, EXP4, RED_SUM16, DW_KGRAD8);
  return `(module
  (import "env" "memory" (memory 2 65536 shared))${fns.join('\n')}
)
`;
}

const wat = build();
const wabt = await (await import('wabt')).default();
const mod = wabt.parseWat('ew.wat', wat, { simd: true, threads: true });
mod.validate({ simd: true, threads: true });
const { buffer } = mod.toBinary({});
mod.destroy();
const text = [
  '// Generated by scripts/build-ew-wasm.ts (WebAssembly text in that script). Do not edit.',
  '',
  ...embedLines('EW_WASM_SHARED', `${buffer.length} bytes of wasm (memory import: shared).`, buffer),
].join('\n');
writeOrCheck('src/engine/cpu/wasm/ew-wasm.ts', text, 'build-ew-wasm', 'npx tsx scripts/build-ew-wasm.ts');
