//! Ports as TUN devices in network namespaces, and the workers that move packets between them
//! through the pipeline.
