//! Work on every core without a thread-pool dependency: scoped threads.

/// Map over `items` on every available core, keeping order. Workers take
/// `batch` items at a time from a shared counter, so uneven items (one big
/// document, many small posts) still keep every core busy.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    batch: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let batch = batch.max(1);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len().div_ceil(batch));
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let start = next.fetch_add(batch, Ordering::Relaxed);
                if start >= items.len() {
                    break;
                }
                let end = (start + batch).min(items.len());
                let done: Vec<R> = items[start..end].iter().map(&f).collect();
                let mut slots = slots.lock().unwrap_or_else(|p| p.into_inner());
                for (i, r) in done.into_iter().enumerate() {
                    slots[start + i] = Some(r);
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.expect("every slot is filled unless a worker panicked, which scope re-raises"))
        .collect()
}
