"""An ordinary AutoGen agent that forwards sentiment requests to the bridge agent."""

from __future__ import annotations

from autogen_core import AgentId, MessageContext, RoutedAgent, message_handler

from .events import SentimentRequest, SentimentResponse

#: Where the bridge to the stream-processing service is registered (in worker 1).
BRIDGE = AgentId("sentiment_bridge", "default")


class ForwardingAgent(RoutedAgent):
    """Receives requests in worker 2 and asks the bridge agent in worker 1."""

    def __init__(self) -> None:
        super().__init__("Forwards sentiment requests to the Kafka bridge agent")

    @message_handler
    async def on_request(self, message: SentimentRequest, ctx: MessageContext) -> SentimentResponse:
        response = await self.send_message(
            message, BRIDGE, cancellation_token=ctx.cancellation_token
        )
        assert isinstance(response, SentimentResponse)
        return response
