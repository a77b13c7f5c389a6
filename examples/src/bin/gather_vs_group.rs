//! gather(return_exceptions=True) versus a group: children that return their
//! `Result` as output run to completion; a fail-fast group cancels the rest.

use std::convert::Infallible;
use std::time::Duration;

use cohort::Group;
use cohort_examples::ValidationError;

async fn task(i: u64) -> Result<u64, ValidationError> {
    tokio::time::sleep(Duration::from_millis(10 * i)).await;
    if i == 2 {
        return Err(ValidationError(format!("task {i} failed")));
    }
    Ok(i)
}

#[tokio::main]
async fn main() {
    // gather: every task runs to completion; failures are values.
    let gather = Group::new("gather");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            gather.spawn(format!("task-{i}"), async move {
                Ok::<_, Infallible>(task(i).await)
            })
        })
        .collect::<Result<_, _>>()
        .expect("the group is open");
    gather.join().await.expect("nothing fails");
    let results: Vec<_> = handles
        .into_iter()
        .filter_map(|h| h.into_output().ok())
        .collect();
    println!("gather: {results:?}");

    // group: the first failure cancels the rest; errors arrive grouped.
    let group = Group::new("group");
    let handles: Vec<_> = (0..4)
        .map(|i| group.spawn(format!("task-{i}"), task(i)))
        .collect::<Result<_, _>>()
        .expect("the group is open");
    if let Err(errors) = group.join().await {
        println!("group: {errors}");
    }
    let outcomes: Vec<_> = handles
        .iter()
        .map(|h| h.outcome().map(|o| o.as_str()))
        .collect();
    println!("group outcomes: {outcomes:?}");
}
