package dome.fixtest;

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import quickfix.Application;
import quickfix.DefaultMessageFactory;
import quickfix.FieldNotFound;
import quickfix.FileLogFactory;
import quickfix.FileStoreFactory;
import quickfix.Message;
import quickfix.MessageUtils;
import quickfix.Session;
import quickfix.SessionID;
import quickfix.SessionSettings;
import quickfix.SocketInitiator;
import quickfix.field.MsgType;
import quickfix.field.Password;
import quickfix.field.Username;

/**
 * A FIX 4.4 initiator on QuickFIX/J that a test script drives line by line.
 *
 * <p>It reads commands on stdin and reports every message and session event on stdout, one
 * line each, with SOH shown as '|'. Commands:
 *
 * <pre>
 *   send 35=D|11=o1|55=XYZ|...   build a message from tag=value pairs (header beyond 35 is
 *                                filled in by the session) and send it
 *   logon | logout [text]        start or end the session (the initiator reconnects itself)
 *   next_sender N | next_target N  set the next outgoing / expected incoming MsgSeqNum
 *   status                       print "STATUS loggedOn=.. nextSender=.. nextTarget=.."
 *   quit                         stop and exit
 * </pre>
 *
 * <p>Output: "READY", "CREATE", "LOGON", "LOGOUT", "IN msg" (received, admin and app),
 * "OUT msg" (sent), "ERROR text". The session's settings come from the file named by the
 * first argument; Username and Password there go on the Logon.
 */
public final class ScriptedInitiator implements Application {
  private static final char SOH = '\001';
  private final PrintStream out;
  private final SessionSettings settings;

  private ScriptedInitiator(SessionSettings settings) {
    this.settings = settings;
    this.out = new PrintStream(System.out, true, StandardCharsets.US_ASCII);
  }

  private synchronized void emit(String line) {
    out.println(line);
  }

  private static String show(Message message) {
    return message.toString().replace(SOH, '|');
  }

  @Override
  public void onCreate(SessionID sessionId) {
    emit("CREATE " + sessionId);
  }

  @Override
  public void onLogon(SessionID sessionId) {
    emit("LOGON " + sessionId);
  }

  @Override
  public void onLogout(SessionID sessionId) {
    emit("LOGOUT " + sessionId);
  }

  @Override
  public void toAdmin(Message message, SessionID sessionId) {
    try {
      if (MsgType.LOGON.equals(message.getHeader().getString(MsgType.FIELD))) {
        if (settings.isSetting(sessionId, "Username")) {
          message.setString(Username.FIELD, settings.getString(sessionId, "Username"));
        }
        if (settings.isSetting(sessionId, "Password")) {
          message.setString(Password.FIELD, settings.getString(sessionId, "Password"));
        }
      }
    } catch (Exception e) {
      emit("ERROR toAdmin " + e);
    }
    emit("OUT " + show(message));
  }

  @Override
  public void fromAdmin(Message message, SessionID sessionId) {
    emit("IN " + show(message));
  }

  @Override
  public void toApp(Message message, SessionID sessionId) {
    emit("OUT " + show(message));
  }

  @Override
  public void fromApp(Message message, SessionID sessionId) throws FieldNotFound {
    emit("IN " + show(message));
  }

  /** The message of "35=D|11=x|..." for ``session``, parsed with its data dictionary. */
  private static Message build(Session session, String pairs) {
    SessionID id = session.getSessionID();
    String msgType = null;
    List<String> body = new ArrayList<>();
    for (String pair : pairs.split("\\|")) {
      if (pair.isEmpty()) {
        continue;
      }
      if (pair.startsWith("35=")) {
        msgType = pair.substring(3);
      } else {
        body.add(pair);
      }
    }
    if (msgType == null) {
      throw new IllegalArgumentException("no 35= in " + pairs);
    }
    StringBuilder inner = new StringBuilder();
    inner.append("35=").append(msgType).append(SOH);
    inner.append("49=").append(id.getSenderCompID()).append(SOH);
    inner.append("56=").append(id.getTargetCompID()).append(SOH);
    inner.append("34=1").append(SOH);
    inner.append("52=20000101-00:00:00.000").append(SOH);
    for (String pair : body) {
      inner.append(pair).append(SOH);
    }
    String head = "8=" + id.getBeginString() + SOH + "9=" + inner.length() + SOH;
    String withoutChecksum = head + inner;
    int sum = 0;
    for (byte b : withoutChecksum.getBytes(StandardCharsets.US_ASCII)) {
      sum += b & 0xff;
    }
    String raw = withoutChecksum + String.format("10=%03d", sum % 256) + SOH;
    try {
      return MessageUtils.parse(session, raw);
    } catch (Exception e) {
      throw new IllegalArgumentException("cannot build " + pairs + ": " + e, e);
    }
  }

  private void run(BufferedReader commands, Session session, SocketInitiator initiator)
      throws Exception {
    emit("READY");
    String line;
    while ((line = commands.readLine()) != null) {
      String[] words = line.trim().split(" ", 2);
      String arg = words.length > 1 ? words[1] : "";
      try {
        switch (words[0]) {
          case "send":
            if (!session.send(build(session, arg))) {
              emit("ERROR not sent (not logged on?)");
            }
            break;
          case "logon":
            session.logon();
            break;
          case "logout":
            session.logout(arg.isEmpty() ? null : arg);
            break;
          case "next_sender":
            session.setNextSenderMsgSeqNum(Integer.parseInt(arg));
            break;
          case "next_target":
            session.setNextTargetMsgSeqNum(Integer.parseInt(arg));
            break;
          case "status":
            emit("STATUS loggedOn=" + session.isLoggedOn()
                + " nextSender=" + session.getExpectedSenderNum()
                + " nextTarget=" + session.getExpectedTargetNum());
            break;
          case "quit":
            initiator.stop(true);
            emit("BYE");
            return;
          case "":
            break;
          default:
            emit("ERROR unknown command " + words[0]);
        }
      } catch (Exception e) {
        emit("ERROR " + e);
      }
    }
    initiator.stop(true);
  }

  public static void main(String[] args) throws Exception {
    SessionSettings settings = new SessionSettings(new FileInputStream(args[0]));
    ScriptedInitiator app = new ScriptedInitiator(settings);
    SocketInitiator initiator =
        new SocketInitiator(
            app,
            new FileStoreFactory(settings),
            settings,
            new FileLogFactory(settings),
            new DefaultMessageFactory());
    initiator.start();
    SessionID id = initiator.getSessions().get(0);
    Session session = Session.lookupSession(id);
    BufferedReader commands =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
    app.run(commands, session, initiator);
    System.exit(0);
  }
}
