// The seed article's send Lambda (index.js of its "sendMessage" function), transcribed from
// the article's code blocks joined in order, comments kept. Only what keeps it from running at
// all is changed, each marked FIX:
//  - `require('./patch.js')`: the article never shows that file; dropped.
//  - `environment` is never set, so `environment.toLowerCase()` throws on every SQS event;
//    it takes the stage from STAGE.
// Everything else is as published, including a console.log per post and the Scan.
const AWS = require('aws-sdk');
// FIX: require('./patch.js');
const ddb = new AWS.DynamoDB.DocumentClient({ apiVersion: '2012-08-10' });
const dynamodb = new AWS.DynamoDB({apiVersion: '2011-12-05'});

const { ENDPOINT } = process.env;

exports.handler = async (event, context, callback) => {
  let environment = process.env.STAGE; // FIX: was `undefined`
  let table = process.env.TABLE_NAME;

let user_id= undefined;
let room_id = undefined;
let postData = undefined;
let messageBody = {};

// if there are records we re in the sqs trigger put the event from the message of the SQS message receive d.

if (event.Records != undefined) {
  let body = JSON.parse(event.Records[0].body);
  user_id = body.user_id;
  room_id = body.room_id;
  messageBody = {user_id: user_id };
  postData = body.data;
} else {
  postData = JSON.parse(event.body).data;
  const connection_sender = event.requestContext.connectionId;
  // get sender info on dynamo db table of connections

let params = {
  Key: { HashKeyElement: { S: connection_sender } },
  TableName: table
};
let sender_item = undefined;

//get the row of dynamo referred to the connection_id sender.
await dynamodb.getItem(params, function(err, data) {
  if (err) console.log(err, err.stack); // an error occurred
  else {
    sender_item = data;
    user_id = sender_item.Item.user_id.S;
    room_id = sender_item.Item.room_id.S;
    // adding in the messageBody the user_id of the sender
    messageBody = {user_id: user_id };
  } // successful response
}).promise();
}

//retrieve all connection for the selected room_id.
let connectionData;
try {
  let scanParam = { TableName: table, ProjectionExpression: 'connection_id, user_id',
    FilterExpression: '#roomId = :roomId',
    ExpressionAttributeNames: {
      '#roomId': 'room_id',
    },
    ExpressionAttributeValues: {
      ':roomId': room_id,
    }
  };
  connectionData = await ddb.scan(scanParam).promise();
} catch (e) {
  return { statusCode: 500, body: e.stack };
}
let url = (ENDPOINT === "") ? event.requestContext.domainName + '/' +
event.requestContext.stage : ENDPOINT + "/" + environment.toLowerCase();

console.log(url);

const apigwManagementApi = new AWS.ApiGatewayManagementApi({
  apiVersion: '2018-11-29',
  endpoint: url
});

// for each connection send a message through apigwManagementApi

const postCalls = connectionData.Items.map(async ({ connection_id }) => {

  try {
    messageBody.data = postData;
    await apigwManagementApi.postToConnection({ ConnectionId: connection_id, Data:
JSON.stringify(messageBody)}).promise();
    console.log("posted");
  } catch (e) {
    console.error(e);
    //if the connection in a stale status, the connection will be closed, and the connection_id will be removed from the dynamoDB table
    if (e.statusCode === 410) {
      console.log(`Found stale connection, deleting ${connection_id}`);
      var deleteParams = {
        TableName: table,
        Key: {
          connection_id: { S: connection_id }
        }
      };
      await ddb.deleteItem(deleteParams, function (err) {
        callback(null, {
          statusCode: err ? 500 : 200,
          body: err ? "Failed to disconnect: " + JSON.stringify(err) : "Disconnected."
        }).promise();
      });
    } else {
      return { statusCode: 500, body: e.stack };
    }
  }
});

try {
  await Promise.all(postCalls);
} catch (e) {
  return { statusCode: 500, body: e.stack };
}

return { statusCode: 200, body: 'Data sent.' };
};
