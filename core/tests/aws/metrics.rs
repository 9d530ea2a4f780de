//! The metrics' known workload (tests/common/mod.rs `workload`) on DynamoDB and SQS: the rows
//! of the gone sockets deleted from the table, the continuations through a real queue (with
//! its SentTimestamp), and the same exact figures in the documents.

use super::*;
use common::workload;

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn the_send_function_counts_the_workload_exactly_on_dynamodb_and_sqs() {
    let ep = moto_endpoint();
    let (ddb, sqs) = clients(&ep).await;
    // A queue of the test's own: the shared one is read by other tests concurrently.
    let url = sqs
        .create_queue()
        .queue_name(unique("metrics"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let conns = Arc::new(DynamoConnectionStore::new(ddb.clone(), "hermesConnections"));
    let room = unique("metrics-room");
    let run = workload::run(
        conns.clone(),
        Arc::new(DynamoHistoryStore::new(ddb, "hermesHistory")),
        Arc::new(SqsQueue::new(sqs, url)),
        &room,
    )
    .await;
    workload::check(&run);
    for (i, id) in run.ids.iter().enumerate() {
        let gone = i < workload::GONE;
        assert_eq!(run.pusher.frames(id).len(), usize::from(!gone), "{id}");
        assert_eq!(conns.get(id).await.unwrap().is_none(), gone, "{id}");
    }
}
