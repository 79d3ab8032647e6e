// A tower layer over a service whose error cannot carry a rejection, handed to code that needs
// a service (as `Buffer::new` or a router does).
use std::time::Duration;

use staunch::tower::TimeoutLayer;
use tower::{Layer, Service, service_fn};

fn serve<S: Service<u32>>(_: S) {}

fn main() {
    let service = TimeoutLayer::new(Duration::from_secs(1))
        .layer(service_fn(|x: u32| async move { Ok::<u32, std::io::Error>(x) }));
    serve(service);
}
