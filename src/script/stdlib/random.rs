//! Random numbers, as `Math.random()` gives on the device: `random()` is a
//! float in [0, 1), `random(lo, hi)` an integer in [lo, hi] (both ends).

use rhai::{Engine, EvalAltResult, FLOAT, INT};

use super::error;

fn between(lo: INT, hi: INT) -> Result<INT, Box<EvalAltResult>> {
    if lo > hi {
        return Err(error(
            "random",
            format!("random({lo}, {hi}): the first bound must not exceed the second"),
        ));
    }
    Ok(rand::random_range(lo..=hi))
}

pub fn register(engine: &mut Engine) {
    engine
        .register_fn("random", || -> FLOAT { rand::random::<FLOAT>() })
        .register_fn("random", between);
}

#[cfg(test)]
mod tests {
    use super::super::testing::{engine, message_of};
    use rhai::{FLOAT, INT};

    #[test]
    fn floats_lie_in_the_unit_interval_and_ints_in_their_bounds() {
        let e = engine();
        for _ in 0..200 {
            let f: FLOAT = e.eval("random()").unwrap();
            assert!((0.0..1.0).contains(&f), "{f}");
            let i: INT = e.eval("random(3, 5)").unwrap();
            assert!((3..=5).contains(&i), "{i}");
        }
        let one: INT = e.eval("random(7, 7)").unwrap();
        assert_eq!(one, 7);
    }

    #[test]
    fn both_ends_are_reached() {
        let e = engine();
        let seen: Vec<INT> = (0..400).map(|_| e.eval("random(0, 1)").unwrap()).collect();
        assert!(seen.contains(&0) && seen.contains(&1));
    }

    #[test]
    fn reversed_bounds_are_an_error() {
        let e = engine().run("random(5, 1);").unwrap_err();
        assert!(message_of(&e).contains("must not exceed"), "{e}");
    }
}
