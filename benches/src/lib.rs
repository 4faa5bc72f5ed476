//! Helpers shared by the benches in `benches/`: the benches themselves are criterion
//! benches under `benches/benches/`, one file each (see `BENCHMARKS.md`).

use std::time::Instant;

/// The per-round ratios of a [`paired`] measurement.
#[derive(Debug, Clone, Copy)]
pub struct Paired {
    /// Median of the per-round ratios `b / a`.
    pub median: f64,
    /// First quartile.
    pub q1: f64,
    /// Third quartile.
    pub q3: f64,
    /// The fastest `b` pass over the fastest `a` pass.
    pub fastest: f64,
}

/// Times `a(r)` and `b(r)` in alternating order (a b, b a, …) for rounds `r` in
/// `0..rounds`, prints the median and quartiles of the per-round ratio `b / a` and the ratio
/// of the fastest `b` to the fastest `a` (prefixed with `what`), and returns them.
///
/// Both sides of a round run within a fraction of a millisecond of each other, so they see
/// the same load: the median holds on a busy machine where criterion's two separate
/// measurements, seconds apart, may not; the fastest passes are the ones no other process
/// interrupted, as on an idle machine. Give both sides the same number of operations per
/// pass, so that the ratio is one of operations.
pub fn paired(
    what: &str,
    rounds: usize,
    mut a: impl FnMut(usize),
    mut b: impl FnMut(usize),
) -> Paired {
    let time = |f: &mut dyn FnMut(usize), r: usize| {
        let t = Instant::now();
        f(r);
        t.elapsed().as_secs_f64()
    };
    let times: Vec<(f64, f64)> = (0..rounds)
        .map(|r| {
            if r % 2 == 0 {
                let ta = time(&mut a, r);
                (ta, time(&mut b, r))
            } else {
                let tb = time(&mut b, r);
                (time(&mut a, r), tb)
            }
        })
        .collect();
    let mut ratios: Vec<f64> = times.iter().map(|(ta, tb)| tb / ta).collect();
    ratios.sort_by(f64::total_cmp);
    let at = |q: usize| ratios[(ratios.len() - 1) * q / 4];
    let fastest = |side: fn(&(f64, f64)) -> f64| times.iter().map(side).fold(f64::MAX, f64::min);
    let paired = Paired {
        median: at(2),
        q1: at(1),
        q3: at(3),
        fastest: fastest(|t| t.1) / fastest(|t| t.0),
    };
    eprintln!(
        "{what}, paired over {rounds} rounds: median {:.2}x (quartiles {:.2}x to {:.2}x); fastest passes {:.2}x",
        paired.median, paired.q1, paired.q3, paired.fastest,
    );
    paired
}

/// A small deterministic generator (SplitMix64), so every run builds the same data.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (which must not be 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number below 100.
    pub fn percent(&mut self) -> usize {
        self.below(100)
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Parses a catalog name or pattern the bench knows to be valid.
pub fn pattern<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("a catalog name")
}

/// A declaration of `purpose` over `data` on `channels`.
pub fn declaration(
    purpose: &str,
    data: &[&str],
    channels: &[&str],
    legal_basis: tessera_core::LegalBasis,
    status: tessera_core::partner::DeclarationStatus,
) -> tessera_core::Declaration {
    tessera_core::Declaration {
        purpose: pattern(purpose),
        data: data.iter().map(|d| pattern(d)).collect(),
        channels: channels.iter().map(|c| pattern(c)).collect(),
        legal_basis,
        notice: "https://example.invalid/notice/v3".into(),
        status,
    }
}
