"""The calc service written with Python's grpcio, for loadgen's interop test.

    python3 grpc_calc.py DESCRIPTOR_SET [reflection]

DESCRIPTOR_SET is calc.proto's encoded FileDescriptorSet (the test writes the one
loadgen-servers compiles). Listens on 127.0.0.1 (a free port, printed on stdout), serves
calc.Calc/Compute (and server reflection when asked; operands starting with 666 get a
status message full of terminal control sequences) for at most 120 seconds.
"""

import sys
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def main():
    fds = descriptor_pb2.FileDescriptorSet.FromString(open(sys.argv[1], "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    request = message_factory.GetMessageClass(pool.FindMessageTypeByName("calc.CalcRequest"))
    reply = message_factory.GetMessageClass(pool.FindMessageTypeByName("calc.CalcReply"))

    def compute(req, ctx):
        ops = list(req.operands)
        if not ops:
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "no operands")
        if ops[0] == 666:
            # a hostile status message: clear the screen, set the title, forge a line
            ctx.abort(grpc.StatusCode.INTERNAL, "\x1b[2J\x1b]0;pwned\x07\r\nsuccess 100%\u009b31m")
        r = ops[0]
        for x in ops[1:]:
            if req.op == 0:
                r += x
            elif req.op == 1:
                r -= x
            elif req.op == 2:
                r *= x
            else:
                if x == 0:
                    ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "division by zero")
                r = int(r / x)
        return reply(formula="python says %d" % r, result=r)

    handler = grpc.method_handlers_generic_handler(
        "calc.Calc",
        {
            "Compute": grpc.unary_unary_rpc_method_handler(
                compute,
                request_deserializer=request.FromString,
                response_serializer=reply.SerializeToString,
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    if len(sys.argv) > 2 and sys.argv[2] == "reflection":
        from grpc_reflection.v1alpha import reflection

        reflection.enable_server_reflection(["calc.Calc", reflection.SERVICE_NAME], server, pool=pool)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination(timeout=120)


if __name__ == "__main__":
    main()
