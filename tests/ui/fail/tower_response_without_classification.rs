// A breaker layer over a service whose response type says nothing about success, handed to
// code that needs a service.
use staunch::CircuitBreaker;
use staunch::tower::CircuitBreakerLayer;
use tower::{Layer, Service, service_fn};

struct Reply;

fn serve<S: Service<()>>(_: S) {}

fn main() {
    let breaker = CircuitBreaker::builder("ui-reply").build().unwrap();
    let service = CircuitBreakerLayer::new(breaker)
        .layer(service_fn(|(): ()| async { Ok::<Reply, staunch::Rejected>(Reply) }));
    serve(service);
}
