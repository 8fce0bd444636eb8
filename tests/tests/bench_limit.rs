//! Smoke runs of `msrp-bench limit` with a few connections: the sink counts exactly the frames
//! the writer wrote, and a writer that claims one frame more than it wrote is caught.

use std::time::Duration;

use msrp_bench::scenarios::limit::{run, LimitOpts};
use msrp_bench::targets::Pinning;

fn tiny(batch: usize) -> LimitOpts {
    LimitOpts {
        connections: 40,
        head_bytes: 80,
        body_bytes: 100,
        batch,
        duration: Duration::from_secs(10),
        max_frames: Some(20_000),
        inject_phantom: 0,
    }
}

#[test]
fn sink_counts_every_frame_written() {
    for batch in [1, 8] {
        let o = run(&tiny(batch), &Pinning::none());
        assert!(o.errors.is_empty(), "batch {batch}: {:?}", o.errors);
        assert!(o.written >= 20_000);
        assert_eq!(o.counted, o.written, "batch {batch}");
    }
}

#[test]
fn a_frame_that_never_arrives_fails_the_run() {
    let o = run(
        &LimitOpts {
            inject_phantom: 1,
            max_frames: Some(2_000),
            ..tiny(4)
        },
        &Pinning::none(),
    );
    assert_eq!(o.counted, o.written, "everything really written arrived");
    assert!(
        o.errors.iter().any(|e| e.contains("the sink counted")),
        "{:?}",
        o.errors
    );
}
