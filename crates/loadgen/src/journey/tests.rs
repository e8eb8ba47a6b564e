//! Tests of compiling and running journeys.
