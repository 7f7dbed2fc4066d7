//! The floating-point functions of Go's `math` package as go-jsonnet (PyPI `gojsonnet` 0.22,
//! built with Go 1.24) computes them on amd64, bit for bit, so that `std.pow`, `std.exp`,
//! `std.log`, the trigonometric functions and `std.hypot` give go-jsonnet's values.
//!
//! Rust's `f64` methods call the platform's libm, which rounds differently in the last bits.
//! Go's functions are the Cephes algorithms (Stephen L. Moshier, public domain) and, for `Exp`,
//! the method of Naoki Shibata's SLEEF (public domain); on amd64, `Exp`, `Log` and `Hypot` are
//! assembly, the rest is Go compiled without fused multiply-add. What each function does:
//!
//! - [`exp`] (amd64 assembly): `k = round(x·log2 e)`, `r = (x − k·ln2_hi − k·ln2_lo) / 16`,
//!   a degree-8 Taylor polynomial for `e^r − 1`, squared back four times (`t·(t + 2)`), plus 1,
//!   times `2^k` (two steps for a subnormal result). On a processor with AVX and FMA (Go's
//!   choice at run time) the reduction and the polynomial use fused multiply-adds, elsewhere
//!   separate ones; [`exp`] makes the same choice on the same processor.
//! - [`log`] (amd64 assembly): the fdlibm method: `x = f·2^k` with `f` in `[√2/2, √2)`,
//!   `s = (f−1)/(f+1)`, a polynomial in `s²`; a subnormal `x` is not normalised first.
//! - [`sin`], [`cos`], [`tan`] (Cephes): reduction by π/4 in three parts (Payne–Hanek beyond
//!   `2^29`, with the bits of 4/π), then polynomials (a rational function for `tan`).
//! - [`asin`], [`acos`], [`atan`], [`atan2`] (Cephes): a rational function on `[0, 0.66]` and
//!   two reductions into it.
//! - [`pow`]: special cases, `exp(yf·log x)` for the fraction of `y`, repeated squaring of
//!   the mantissa for its integer part, and `ldexp`.
//! - [`hypot`] (amd64 assembly): `max·√(1 + (min/max)²)`.
//!
//! The coefficients are the published Cephes, fdlibm and SLEEF constants; `FOUR_OVER_PI` was
//! computed for this module (Machin's formula in integer arithmetic).

// The constants are written as published, with more digits than a double holds (each is
// the double nearest to its text, as in Go), and some are named constants of `std` that Go
// spells out: the text is kept so it can be compared with the published tables.
#![allow(clippy::excessive_precision, clippy::approx_constant)]

use std::f64::consts::{FRAC_2_PI, FRAC_PI_2, FRAC_PI_4, PI};

const SIGN: u64 = 1 << 63;
const EXPONENT_MASK: u64 = 0x7ff;
const SHIFT: u32 = 52;
const BIAS: i64 = 1023;
const POSITIVE_INFINITY: u64 = 0x7ff0_0000_0000_0000;

/// Whether Go's amd64 `Exp` takes its fused multiply-add path on this processor (Go checks
/// for AVX and FMA at start-up).
fn exp_uses_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        true
    }
}

/// `e^x` as Go's amd64 `math.Exp`.
pub(crate) fn exp(x: f64) -> f64 {
    exp_with(x, exp_uses_fma())
}

/// `e^x` by Go's amd64 algorithm, with or without fused multiply-adds.
fn exp_with(x: f64, fma: bool) -> f64 {
    const LOG2E: f64 = 1.442_695_040_888_963_407_359_924_681_001_892_0;
    const LN2_HI: f64 = 0.693_147_180_559_662_956_511_601_805_686_950_683_593_75;
    const LN2_LO: f64 = 0.282_352_905_630_315_771_225_884_481_750_134_360_255_254_120_68e-12;
    const OVERFLOW: f64 = 7.097_827_128_933_84e2;
    // 1/8!, 1/7!, ..., 1/3!, then 1/2 and 1: the Taylor series of (e^r - 1)/r, highest first.
    const TAYLOR: [f64; 8] = [
        2.480_158_730_158_730_158_7e-5,
        1.984_126_984_126_984_127_0e-4,
        1.388_888_888_888_888_888_9e-3,
        8.333_333_333_333_333_333_3e-3,
        4.166_666_666_666_666_666_7e-2,
        1.666_666_666_666_666_666_7e-1,
        0.5,
        1.0,
    ];
    let bits = x.to_bits();
    if bits & !SIGN >= POSITIVE_INFINITY {
        // -Inf gives 0; NaN and +Inf are returned as they are.
        return if bits == POSITIVE_INFINITY | SIGN {
            0.0
        } else {
            x
        };
    }
    if x > OVERFLOW {
        return f64::INFINITY;
    }
    let k = round_to_i32(x * LOG2E);
    let kf = f64::from(k);
    let mut r = if fma {
        let r = (-kf).mul_add(LN2_HI, x);
        (-kf).mul_add(LN2_LO, r)
    } else {
        let r = x - kf * LN2_HI;
        r - kf * LN2_LO
    };
    r *= 0.0625;
    let mut p = TAYLOR[0];
    for c in &TAYLOR[1..] {
        p = if fma { p.mul_add(r, *c) } else { p * r + c };
    }
    r *= p;
    if fma {
        for _ in 0..3 {
            r *= r + 2.0;
        }
        r = r.mul_add(r + 2.0, 1.0);
    } else {
        for _ in 0..4 {
            r *= r + 2.0;
        }
        r += 1.0;
    }
    // r · 2^k, in two steps when the result is subnormal.
    let mut biased = i64::from(k) + BIAS;
    if biased <= 0 {
        if biased < -52 {
            return 0.0;
        }
        biased += BIAS - 1;
        r *= power_of_two_bits(biased);
        biased = 1;
    } else if biased >= 0x7ff {
        return f64::INFINITY;
    }
    r * power_of_two_bits(biased)
}

/// The double whose biased exponent field is `biased` (in `1..0x7ff`) and mantissa zero.
fn power_of_two_bits(biased: i64) -> f64 {
    f64::from_bits(u64::try_from(biased).unwrap_or(0) << SHIFT)
}

/// x86's `CVTSD2SI` to a 32-bit integer: round to nearest, ties to even; NaN or out of range
/// gives `i32::MIN` (the "integer indefinite" value).
fn round_to_i32(value: f64) -> i32 {
    let rounded = value.round_ties_even();
    if (-2_147_483_648.0..=2_147_483_647.0).contains(&rounded) {
        // In range and integral: the conversion is exact.
        rounded as i32
    } else {
        i32::MIN
    }
}

/// The natural logarithm as Go's amd64 `math.Log`.
pub(crate) fn log(x: f64) -> f64 {
    const HALF_SQRT2: f64 = 7.071_067_811_865_475_244_01e-1;
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const L1: f64 = 6.666_666_666_666_735_130e-1;
    const L2: f64 = 3.999_999_999_940_941_908e-1;
    const L3: f64 = 2.857_142_874_366_239_149e-1;
    const L4: f64 = 2.222_219_843_214_978_396e-1;
    const L5: f64 = 1.818_357_216_161_805_012e-1;
    const L6: f64 = 1.531_383_769_920_937_332e-1;
    const L7: f64 = 1.479_819_860_511_658_591e-1;
    let bits = x.to_bits();
    if bits & !SIGN == 0 {
        return f64::NEG_INFINITY;
    }
    if bits & SIGN != 0 {
        return f64::NAN;
    }
    if bits >= POSITIVE_INFINITY {
        return x;
    }
    // The exponent field is taken as it is: a subnormal is not normalised first.
    let mut f1 = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3fe0_0000_0000_0000);
    let field = i32::try_from((bits >> SHIFT) & EXPONENT_MASK).unwrap_or(0);
    let mut k = f64::from(field - 0x3fe);
    // The assembly's comparison is "not less than" with √2/2 first: f1 <= √2/2.
    if f1 <= HALF_SQRT2 {
        k -= 1.0;
        f1 *= 2.0;
    }
    let f = f1 - 1.0;
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (((L7 * s4 + L5) * s4 + L3) * s4 + L1);
    let t2 = s4 * ((L6 * s4 + L4) * s4 + L2);
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// Pi/4 in three parts whose sum is Pi/4 to well beyond double precision (Cephes).
const PI4A: f64 = 7.853_981_256_484_985_351_56e-1;
const PI4B: f64 = 3.774_894_707_930_798_176_68e-8;
const PI4C: f64 = 2.695_151_429_079_059_526_45e-15;

/// Go's `reduceThreshold`: above it, the three-part reduction loses bits.
const REDUCE_THRESHOLD: f64 = (1u64 << 29) as f64;

/// 4/π, correctly rounded (Go's constant expression `4 / Pi`).
const FOUR_OVER_PI_F64: f64 = 2.0 * FRAC_2_PI;

const SIN: [f64; 6] = [
    1.589_623_015_765_465_680_60e-10,
    -2.505_074_776_285_780_728_66e-8,
    2.755_731_362_138_572_452_13e-6,
    -1.984_126_982_958_953_859_96e-4,
    8.333_333_333_322_118_588_78e-3,
    -1.666_666_666_666_663_072_95e-1,
];

const COS: [f64; 6] = [
    -1.135_853_652_138_768_173_00e-11,
    2.087_570_084_197_473_167_78e-9,
    -2.755_731_417_929_673_881_12e-7,
    2.480_158_728_885_170_453_48e-5,
    -1.388_888_888_887_305_641_16e-3,
    4.166_666_666_666_659_292_18e-2,
];

/// The octant `j` (0 to 7, an even one) and the remainder `z` of a non-negative finite `x`
/// by π/4, as Go's trigonometric functions reduce it.
fn reduce(x: f64) -> (u64, f64) {
    if x >= REDUCE_THRESHOLD {
        return trig_reduce(x);
    }
    // x < 2^29: the product is below 2^30, the conversion truncates exactly.
    let mut j = (x * FOUR_OVER_PI_F64) as u64;
    let mut y = j as f64;
    if j & 1 == 1 {
        j += 1;
        y += 1.0;
    }
    (j, ((x - y * PI4A) - y * PI4B) - y * PI4C)
}

fn sin_poly(z: f64, zz: f64) -> f64 {
    z + z
        * zz
        * (((((SIN[0] * zz + SIN[1]) * zz + SIN[2]) * zz + SIN[3]) * zz + SIN[4]) * zz + SIN[5])
}

fn cos_poly(zz: f64) -> f64 {
    1.0 - 0.5 * zz
        + zz * zz
            * (((((COS[0] * zz + COS[1]) * zz + COS[2]) * zz + COS[3]) * zz + COS[4]) * zz + COS[5])
}

/// The sine as Go's `math.Sin`.
pub(crate) fn sin(x: f64) -> f64 {
    if x == 0.0 || x.is_nan() {
        return x;
    }
    if x.is_infinite() {
        return f64::NAN;
    }
    let mut sign = x < 0.0;
    let (mut j, z) = reduce(x.abs());
    j &= 7;
    if j > 3 {
        sign = !sign;
        j -= 4;
    }
    let zz = z * z;
    let y = if j == 1 || j == 2 {
        cos_poly(zz)
    } else {
        sin_poly(z, zz)
    };
    if sign { -y } else { y }
}

/// The cosine as Go's `math.Cos`.
pub(crate) fn cos(x: f64) -> f64 {
    if !x.is_finite() {
        return f64::NAN;
    }
    let mut sign = false;
    let (mut j, z) = reduce(x.abs());
    j &= 7;
    if j > 3 {
        j -= 4;
        sign = !sign;
    }
    if j > 1 {
        sign = !sign;
    }
    let zz = z * z;
    let y = if j == 1 || j == 2 {
        sin_poly(z, zz)
    } else {
        cos_poly(zz)
    };
    if sign { -y } else { y }
}

/// The tangent as Go's `math.Tan`.
pub(crate) fn tan(x: f64) -> f64 {
    const P: [f64; 3] = [
        -1.309_369_391_813_837_776_46e4,
        1.153_516_648_385_874_161_40e6,
        -1.795_652_519_764_848_779_88e7,
    ];
    const Q: [f64; 4] = [
        1.368_129_634_706_929_546_78e4,
        -1.320_892_344_402_109_674_47e6,
        2.500_838_018_233_579_158_39e7,
        -5.386_957_559_294_546_298_81e7,
    ];
    if x == 0.0 || x.is_nan() {
        return x;
    }
    if x.is_infinite() {
        return f64::NAN;
    }
    let sign = x < 0.0;
    let (j, z) = reduce(x.abs());
    let zz = z * z;
    let mut y = if zz > 1e-14 {
        z + z
            * (zz * ((P[0] * zz + P[1]) * zz + P[2])
                / ((((zz + Q[0]) * zz + Q[1]) * zz + Q[2]) * zz + Q[3]))
    } else {
        z
    };
    if j & 2 == 2 {
        y = -1.0 / y;
    }
    if sign { -y } else { y }
}

/// The binary digits of 4/π: `4/π = Σ FOUR_OVER_PI[i]·2^(−64·i)`, 1,217 bits, enough for the
/// largest exponent of a double.
const FOUR_OVER_PI: [u64; 20] = [
    0x0000_0000_0000_0001,
    0x45f3_06dc_9c88_2a53,
    0xf84e_afa3_ea69_bb81,
    0xb6c5_2b32_7887_2083,
    0xfca2_c757_bd77_8ac3,
    0x6e48_dc74_849b_a5c0,
    0x0c92_5dd4_13a3_2439,
    0xfc3b_d639_6253_4e7d,
    0xd104_6bea_5d76_8909,
    0xd338_e04d_68be_fc82,
    0x7323_ac73_06a6_73e9,
    0x3908_bf17_7bf2_5076,
    0x3ff1_2fff_bc0b_301f,
    0xde5e_2316_b414_da3e,
    0xda6c_fd9e_4f96_136e,
    0x9e8c_7ecd_3cbf_d45a,
    0xea4f_758f_d7cb_e2f6,
    0x7a0e_73ef_14a5_25d4,
    0xd7f6_bf62_3f1a_ba10,
    0xac06_608d_f8f6_d757,
];

/// Payne–Hanek reduction of a finite `x >= 2^29` by π/4 (K. C. Ng, "Argument reduction for
/// huge arguments: good to the last bit", 1992), in 64-bit integer arithmetic as Go does it:
/// the octant (even, 0 to 6) and the remainder.
fn trig_reduce(x: f64) -> (u64, f64) {
    if x < FRAC_PI_4 {
        return (0, x);
    }
    let bits = x.to_bits();
    let exponent =
        i64::try_from((bits >> SHIFT) & EXPONENT_MASK).unwrap_or(0) - BIAS - i64::from(SHIFT);
    let mantissa = (bits & !(EXPONENT_MASK << SHIFT)) | (1 << SHIFT);
    // x >= 2^29 gives exponent >= -23, so the index is in range.
    let position = u64::try_from(exponent + 61).unwrap_or(0);
    let digit = usize::try_from(position / 64).unwrap_or(0);
    let shift = u32::try_from(position % 64).unwrap_or(0);
    let window = |i: usize| {
        (FOUR_OVER_PI[digit + i] << shift)
            | FOUR_OVER_PI[digit + i + 1]
                .checked_shr(64 - shift)
                .unwrap_or(0)
    };
    let (z0, z1, z2) = (window(0), window(1), window(2));
    let z2_hi = ((u128::from(z2) * u128::from(mantissa)) >> 64) as u64;
    let z1_product = u128::from(z1) * u128::from(mantissa);
    let (z1_hi, z1_lo) = ((z1_product >> 64) as u64, z1_product as u64);
    let z0_lo = z0.wrapping_mul(mantissa);
    let (lo, carry) = z1_lo.overflowing_add(z2_hi);
    let hi = z0_lo.wrapping_add(z1_hi).wrapping_add(u64::from(carry));
    let mut j = hi >> 61;
    let hi = (hi << 3) | (lo >> 61);
    let leading = hi.leading_zeros();
    let exponent_field = u64::try_from(BIAS)
        .unwrap_or(0)
        .wrapping_sub(u64::from(leading + 1));
    // Go's shifts by 64 or more give 0 (`hi` is 0 only when the remainder is).
    let hi = (hi.checked_shl(leading + 1).unwrap_or(0)
        | 64u32
            .checked_sub(leading + 1)
            .and_then(|by| lo.checked_shr(by))
            .unwrap_or(0))
        >> (64 - SHIFT);
    let mut z = f64::from_bits(hi | (exponent_field << SHIFT));
    if j & 1 == 1 {
        j = (j + 1) & 7;
        z -= 1.0;
    }
    (j, z * FRAC_PI_4)
}

/// Cephes' arctangent on `[0, 0.66]`.
fn xatan(x: f64) -> f64 {
    const P0: f64 = -8.750_608_600_031_904_122_785e-1;
    const P1: f64 = -1.615_753_718_733_365_076_637e1;
    const P2: f64 = -7.500_855_792_314_704_667_340e1;
    const P3: f64 = -1.228_866_684_490_136_173_410e2;
    const P4: f64 = -6.485_021_904_942_025_371_773e1;
    const Q0: f64 = 2.485_846_490_142_306_297_962e1;
    const Q1: f64 = 1.650_270_098_316_988_542_046e2;
    const Q2: f64 = 4.328_810_604_912_902_668_951e2;
    const Q3: f64 = 4.853_903_996_359_136_964_868e2;
    const Q4: f64 = 1.945_506_571_482_613_964_425e2;
    let z = x * x;
    let z = z * ((((P0 * z + P1) * z + P2) * z + P3) * z + P4)
        / (((((z + Q0) * z + Q1) * z + Q2) * z + Q3) * z + Q4);
    x * z + x
}

/// The arctangent of a non-negative `x`, reduced into `[0, 0.66]`.
fn satan(x: f64) -> f64 {
    const MOREBITS: f64 = 6.123_233_995_736_765_886_130e-17;
    const TAN_3PI_8: f64 = 2.414_213_562_373_095_048_80;
    if x <= 0.66 {
        return xatan(x);
    }
    if x > TAN_3PI_8 {
        return FRAC_PI_2 - xatan(1.0 / x) + MOREBITS;
    }
    FRAC_PI_4 + xatan((x - 1.0) / (x + 1.0)) + 0.5 * MOREBITS
}

/// The arctangent as Go's `math.Atan`.
pub(crate) fn atan(x: f64) -> f64 {
    if x == 0.0 {
        return x;
    }
    if x > 0.0 { satan(x) } else { -satan(-x) }
}

/// The arcsine as Go's `math.Asin`.
pub(crate) fn asin(x: f64) -> f64 {
    if x == 0.0 {
        return x;
    }
    let sign = x < 0.0;
    let x = x.abs();
    if x > 1.0 {
        return f64::NAN;
    }
    let temp = (1.0 - x * x).sqrt();
    let temp = if x > 0.7 {
        FRAC_PI_2 - satan(temp / x)
    } else {
        satan(x / temp)
    };
    if sign { -temp } else { temp }
}

/// The arccosine as Go's `math.Acos`.
pub(crate) fn acos(x: f64) -> f64 {
    FRAC_PI_2 - asin(x)
}

/// The angle of `(x, y)` as Go's `math.Atan2`.
pub(crate) fn atan2(y: f64, x: f64) -> f64 {
    if y.is_nan() || x.is_nan() {
        return f64::NAN;
    }
    if y == 0.0 {
        return if x >= 0.0 && !x.is_sign_negative() {
            0f64.copysign(y)
        } else {
            PI.copysign(y)
        };
    }
    if x == 0.0 {
        return FRAC_PI_2.copysign(y);
    }
    if x.is_infinite() {
        return match (x > 0.0, y.is_infinite()) {
            (true, true) => FRAC_PI_4.copysign(y),
            (true, false) => 0f64.copysign(y),
            (false, true) => (3.0 * PI / 4.0).copysign(y),
            (false, false) => PI.copysign(y),
        };
    }
    if y.is_infinite() {
        return FRAC_PI_2.copysign(y);
    }
    let q = atan(y / x);
    if x < 0.0 {
        if q <= 0.0 { q + PI } else { q - PI }
    } else {
        q
    }
}

/// `√(p² + q²)` as Go's amd64 `math.Hypot`.
pub(crate) fn hypot(p: f64, q: f64) -> f64 {
    let (p, q) = (p.abs(), q.abs());
    if p.is_infinite() || q.is_infinite() {
        return f64::INFINITY;
    }
    if p.is_nan() || q.is_nan() {
        return f64::NAN;
    }
    if p == 0.0 && q == 0.0 {
        return 0.0;
    }
    let (big, small) = if p >= q { (p, q) } else { (q, p) };
    let ratio = small / big;
    big * (1.0 + ratio * ratio).sqrt()
}

/// `x = mantissa·2^exponent` with `0.5 <= |mantissa| < 1`, exactly; `(x, 0)` for zero,
/// infinities and NaN (Go's `math.Frexp`).
pub(crate) fn frexp(x: f64) -> (f64, i64) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (x, mut exponent) = normalize(x);
    let bits = x.to_bits();
    exponent += i64::try_from((bits >> SHIFT) & EXPONENT_MASK).unwrap_or(0) - (BIAS - 1);
    let bits = (bits & !(EXPONENT_MASK << SHIFT)) | (u64::try_from(BIAS - 1).unwrap_or(0) << SHIFT);
    (f64::from_bits(bits), exponent)
}

/// A subnormal scaled up to a normal number, with the power of two taken out.
fn normalize(x: f64) -> (f64, i64) {
    if x.abs() < f64::MIN_POSITIVE {
        (x * (1u64 << 52) as f64, -52)
    } else {
        (x, 0)
    }
}

/// `frac·2^exp` as Go's `math.Ldexp` (a subnormal result is rounded once, by a final
/// multiplication by 2^-53).
pub(crate) fn ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || !frac.is_finite() {
        return frac;
    }
    let (frac, e) = normalize(frac);
    let bits = frac.to_bits();
    let mut exp = exp
        .saturating_add(e)
        .saturating_add(i64::try_from((bits >> SHIFT) & EXPONENT_MASK).unwrap_or(0) - BIAS);
    if exp < -1075 {
        return 0f64.copysign(frac);
    }
    if exp > 1023 {
        return f64::INFINITY.copysign(frac);
    }
    let mut m = 1.0;
    if exp < -1022 {
        exp += 53;
        m = 1.0 / (1u64 << 53) as f64;
    }
    let bits =
        (bits & !(EXPONENT_MASK << SHIFT)) | (u64::try_from(exp + BIAS).unwrap_or(0) << SHIFT);
    m * f64::from_bits(bits)
}

/// An odd integer (Go's `isOddInt`, which looks at the low bit of `int64(x)`).
fn is_odd_int(x: f64) -> bool {
    let integral = x.trunc();
    let fraction = x - integral;
    fraction == 0.0 && go_int64(integral) & 1 == 1
}

/// Go's conversion of a float to `int64` on amd64 (`CVTTSD2SQ`): truncation, and
/// `i64::MIN` for NaN and values out of range.
fn go_int64(x: f64) -> i64 {
    if x.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&x) {
        i64::MIN
    } else {
        x as i64
    }
}

/// `x` to a power `y` so large (infinite, or an even integer beyond 2^63) that the result
/// overflows or underflows, as Go's `math.Pow` has it: 1 for `x` = -1, else 0 when `|x| < 1`
/// and `y > 0` agree, +Inf when they do not.
fn huge_power(x: f64, y: f64) -> f64 {
    if x == -1.0 {
        1.0
    } else if (x.abs() < 1.0) == (y > 0.0) {
        0.0
    } else {
        f64::INFINITY
    }
}

/// `x^y` as Go's `math.Pow`.
pub(crate) fn pow(x: f64, y: f64) -> f64 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 {
        if y < 0.0 {
            if is_odd_int(y) {
                return f64::INFINITY.copysign(x);
            }
            return f64::INFINITY;
        }
        // y > 0 (y == 0 was handled first).
        if is_odd_int(y) {
            return x;
        }
        return 0.0;
    }
    if y.is_infinite() {
        return huge_power(x, y);
    }
    if x.is_infinite() {
        if x < 0.0 {
            return pow(1.0 / x, -y);
        }
        return if y < 0.0 { 0.0 } else { f64::INFINITY };
    }
    if y == 0.5 {
        return x.sqrt();
    }
    if y == -0.5 {
        return 1.0 / x.sqrt();
    }
    let magnitude = y.abs();
    let mut yi = magnitude.trunc();
    let mut yf = magnitude - yi;
    if yf != 0.0 && x < 0.0 {
        return f64::NAN;
    }
    if yi >= 9_223_372_036_854_775_808.0 {
        // A large even integer: overflow or underflow for every x but -1.
        return huge_power(x, y);
    }
    let mut a1 = 1.0;
    let mut ae: i64 = 0;
    if yf != 0.0 {
        if yf > 0.5 {
            yf -= 1.0;
            yi += 1.0;
        }
        a1 = exp(yf * log(x));
    }
    let (mut x1, mut xe) = frexp(x);
    let mut i = go_int64(yi);
    while i != 0 {
        if !(-(1 << 12)..=(1 << 12)).contains(&xe) {
            // xe would overflow the shift below; the result under- or overflows anyway.
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if y < 0.0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_over_pi_starts_with_its_known_bits() {
        // 4/π = 1.2732395447351628 = 0x3FF45F306DC9C883: its mantissa's 52 bits follow the
        // leading 1 in the table.
        let leading = (FOUR_OVER_PI[1] >> 12) | (1 << 52);
        assert_eq!(
            FOUR_OVER_PI_F64.to_bits() & ((1 << 52) - 1),
            (leading & ((1 << 52) - 1)) + 1
        );
    }

    #[test]
    fn exact_cases() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(log(1.0), 0.0);
        assert_eq!(log(0.0), f64::NEG_INFINITY);
        assert!(log(-1.0).is_nan());
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(-2.0, 3.0), -8.0);
        assert_eq!(pow(0.0, -1.0), f64::INFINITY);
        assert!(pow(-2.0, 0.5).is_nan());
        assert_eq!(sin(0.0), 0.0);
        assert_eq!(cos(0.0), 1.0);
        assert_eq!(atan(f64::INFINITY), FRAC_PI_2);
        assert_eq!(asin(1.0), FRAC_PI_2);
        assert_eq!(hypot(3.0, 4.0), 5.0);
        assert_eq!(frexp(42.0), (0.65625, 6));
        assert_eq!(frexp(5e-324), (0.5, -1073));
        assert_eq!(ldexp(0.5, -1073), 5e-324);
        assert_eq!(ldexp(0.75, 1025), f64::INFINITY);
    }

    #[test]
    fn the_fused_and_plain_exp_paths_stay_close() {
        for x in [-700.5, -1.25, -1e-9, 0.3, 1.0, 2.5, 100.0, 709.0] {
            let (a, b) = (exp_with(x, true), exp_with(x, false));
            assert!(((a - b) / a).abs() < 1e-15, "{x}: {a} {b}");
        }
    }

    #[test]
    fn huge_arguments_use_payne_hanek() {
        // sin(2^30) reduced both ways agrees closely (the three-part reduction still holds
        // to about 2^30); 1e22 is a known case: sin(1e22) = -0.8522008497671888.
        assert!((sin(1e22) + 0.852_200_849_767_188_8).abs() < 1e-15);
        let (j, z) = trig_reduce(1e9);
        let (k, w) = {
            let y = (1e9 * FOUR_OVER_PI_F64).trunc();
            let (mut j, mut y) = (y as u64, y);
            if j & 1 == 1 {
                j += 1;
                y += 1.0;
            }
            (j & 7, ((1e9 - y * PI4A) - y * PI4B) - y * PI4C)
        };
        assert_eq!(j, k);
        assert!((z - w).abs() < 1e-12);
    }
}
