//! Origin.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_from_a_foreign_origin_is_refused_and_from_our_own_accepted() {
    let app = TestApp::spawn().await;
    let (status, body) = refused_upgrade(upgrade_with_origin(&app, "http://evil.example")).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "forbidden", "{body}");
    // A look-alike of our own origin on another port is foreign too.
    let (status, _) = refused_upgrade(upgrade_with_origin(
        &app,
        &format!("http://127.0.0.1:{}", app.address.port().wrapping_add(1)),
    ))
    .await;
    assert_eq!(status, 403);

    let own = format!("http://{}", app.address);
    let (stream, response) = tokio_tungstenite::connect_async(upgrade_with_origin(&app, &own))
        .await
        .expect("our own origin may upgrade");
    assert_eq!(response.status().as_u16(), 101);
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_from_a_frontend_url_origin_is_accepted() {
    let app = TestApp::spawn_with(&[("--frontend-url", "http://app.example:5173")]).await;
    let (_stream, response) =
        tokio_tungstenite::connect_async(upgrade_with_origin(&app, "http://app.example:5173"))
            .await
            .expect("a FRONTEND_URL origin may upgrade");
    assert_eq!(response.status().as_u16(), 101);
    let (status, _) = refused_upgrade(upgrade_with_origin(&app, "http://app.example:5174")).await;
    assert_eq!(status, 403);
}
