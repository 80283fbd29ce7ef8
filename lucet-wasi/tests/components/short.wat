;; A command component that declares a WASI function with fewer parameters
;; than WASI's (`blocking-write-and-flush` without its bytes): the host
;; function finds the argument missing and ends the run with one line.
(component
  (type $streams-type (instance
    (export "output-stream" (type $os (sub resource)))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" (borrow $os))))
  ))
  (import "wasi:io/streams@0.2.6" (instance $streams (type $streams-type)))
  (alias export $streams "output-stream" (type $os))
  (import "wasi:cli/stdout@0.2.6" (instance $stdout
    (alias outer 1 $os (type $os))
    (type $own (own $os))
    (export "get-stdout" (func (result $own)))
  ))
  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core func $write (canon lower (func $streams "[method]output-stream.blocking-write-and-flush")))
  (core module $program
    (import "host" "get-stdout" (func $get-stdout (result i32)))
    (import "host" "write" (func $write (param i32)))
    (func (export "run") (result i32)
      (call $write (call $get-stdout))
      (i32.const 0)))
  (core instance $main (instantiate $program
    (with "host" (instance
      (export "get-stdout" (func $get-stdout))
      (export "write" (func $write))))))
  (func $run (result (result)) (canon lift (core func $main "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.6" (instance $run-instance))
)
